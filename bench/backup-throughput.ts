/**
 * End-to-end backup time vs bare `pg_dump -Fc -Z0 > /dev/null` on the same ~1 GiB database, in the same run,
 * and each service's peak RSS. Run by hand (not a test):
 *   node -r ./tools/register.js bench/backup-throughput.ts [--gib 1]
 * Target (issue: PostgreSQL backups end to end): ratio ≤ 1.2, every service < 256 MB.
 */
import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { RedisStreamEventBus } from '@tidemark/events';
import { waitFor } from '@tidemark/testing';
import { dbUrl } from '../test/src/support/database';
import { BENCH_DB as DB, ensureDatabase } from './bench-database';
import { SERVICE_NAMES, TestStack } from '../test/src/support/stack';

const gibFlag = process.argv.indexOf('--gib');
const gib = gibFlag > 0 ? Number(process.argv[gibFlag + 1]) : 1;

async function bareDump(): Promise<number> {
  const devnull = await open('/dev/null', 'w');
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('pg_dump', ['-Fc', '-Z0', '-h', '127.0.0.1', '-U', 'postgres', DB], {
      stdio: ['ignore', devnull.fd, 'inherit'],
    });
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`pg_dump exited ${String(code)}`));
    });
  });
  await devnull.close();
  return performance.now() - started;
}

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

async function main(): Promise<void> {
  const size = await ensureDatabase(gib);
  console.log(`database ${DB}: ${(size / 1024 ** 3).toFixed(2)} GiB`);
  const stack = await TestStack.start({
    config: `
storage: { container: bench }
local: { path: __LOCAL__ }
policies:
  bench: { schedule: "0 5 * * *", verify: { restoreTest: false } }
targets:
  - { id: bench-db, kind: postgres, url: "${dbUrl(DB)}", policy: bench }
`,
    redisDb: 14,
  });
  const bus = new RedisStreamEventBus(stack.redisUrl);
  try {
    // The machine is shared and noisy: the median of three bare dumps, then two Tidemark backups.
    const baselines = [await bareDump(), await bareDump(), await bareDump()].sort((a, b) => a - b);
    const baselineMs = baselines[1] ?? 0;
    console.log(
      `bare pg_dump -Fc -Z0 > /dev/null: ${baselines.map((b) => (b / 1000).toFixed(1)).join(', ')} s (median ${(baselineMs / 1000).toFixed(1)} s)`,
    );
    for (let run = 1; run <= 2; run += 1) {
      const started = performance.now();
      const trigger = await stack.cli(['backup', 'bench-db', '--json']);
      const { backupId } = JSON.parse(trigger.stdout) as { backupId: string };
      await waitFor(
        async () =>
          (await bus.history({ backupId })).some((e) => e.event.type === 'tidemark.backup.uploaded'),
        {
          timeoutMs: 3_600_000,
          intervalMs: 100,
          what: 'the blob and manifest to be committed',
        },
      );
      const endToEndMs = performance.now() - started;
      const events = (await bus.history({ backupId })).map((e) => e.event);
      const dumped = events.find((e) => e.type === 'tidemark.backup.dumped');
      console.log(
        `run ${run}: trigger → committed blob + manifest ${(endToEndMs / 1000).toFixed(1)} s = ${(endToEndMs / baselineMs).toFixed(2)}× bare pg_dump (target ≤ 1.2×); ` +
          `dump stage ${((dumped?.data.durations?.['dump'] ?? 0) / 1000).toFixed(1)} s; ` +
          `raw ${dumped?.data.sizes?.['raw'] ?? '?'} B → ${dumped?.data.sizes?.['compressed'] ?? '?'} B`,
      );
    }
    for (const name of SERVICE_NAMES) {
      const pid = stack.service(name).child.pid;
      if (pid) console.log(`peak RSS ${name.padEnd(9)} ${((await peakRss(pid)) / 1024 ** 2).toFixed(0)} MB`);
    }
  } finally {
    await bus.close();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
