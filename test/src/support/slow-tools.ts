import { chmod, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL bin directory whose pg_dump is the real one throttled to `bytesPerSecond` on stdout, so a dump of a
 * small database lasts long enough to be signalled midway. Every other tool is the real one.
 */
export async function slowPgBin(dir: string, bytesPerSecond: number, realBin = PG_BIN): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const tool of await readdir(realBin))
    if (tool !== 'pg_dump') await symlink(join(realBin, tool), join(dir, tool));
  const chunk = Math.max(1, Math.floor(bytesPerSecond / 10));
  const script = `#!${process.execPath}
const { spawn, spawnSync } = require('node:child_process');
const real = ${JSON.stringify(join(realBin, 'pg_dump'))};
const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-V')) {
  const r = spawnSync(real, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const child = spawn(real, args, { stdio: ['ignore', 'pipe', 'inherit'] });
const queue = [];
let ended = false;
let code = 0;
child.stdout.on('data', (b) => { queue.push(b); if (queue.length > 64) child.stdout.pause(); });
child.stdout.on('end', () => { ended = true; });
child.on('exit', (c) => { code = c ?? 1; });
process.on('SIGTERM', () => { child.kill('SIGTERM'); process.exit(143); });
const timer = setInterval(() => {
  let budget = ${chunk};
  while (budget > 0 && queue.length > 0) {
    const head = queue[0];
    const part = head.subarray(0, budget);
    process.stdout.write(part);
    budget -= part.length;
    if (part.length === head.length) queue.shift(); else queue[0] = head.subarray(part.length);
  }
  if (queue.length < 16) child.stdout.resume();
  if (ended && queue.length === 0) { clearInterval(timer); process.stdout.end(() => process.exit(code)); }
}, 100);
`;
  await writeFile(join(dir, 'pg_dump'), script);
  await chmod(join(dir, 'pg_dump'), 0o755);
  return dir;
}
