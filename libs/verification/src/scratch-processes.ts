import { readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a server left in a scratch copy gets to shut down on SIGTERM before it is killed. */
const GRACE_MS = 15_000;
const POLL_MS = 200;

interface Resident {
  pid: number;
  parent: number;
}

/** The processes (Linux /proc) whose working directory is `dir` or below it; none where /proc is unreadable. */
async function residentsOf(dir: string): Promise<Resident[]> {
  const pids = await readdir('/proc').catch(() => [] as string[]);
  const found: Resident[] = [];
  for (const name of pids) {
    if (!/^\d+$/.test(name)) continue;
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => undefined);
    if (cwd === undefined || (cwd !== dir && !cwd.startsWith(`${dir}${sep}`))) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    found.push({ pid: Number(name), parent: Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0) });
  }
  return found;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

/**
 * Ends what a dead restore test left running in its scratch copy (a database server started on a restored data
 * directory runs there): SIGTERM to the topmost such processes, so a server shuts its children down itself, then
 * SIGKILL to whatever is left after the grace period. Returns the pids it found.
 */
export async function endProcessesUnder(path: string, graceMs = GRACE_MS): Promise<number[]> {
  // /proc shows working directories with symlinks resolved.
  const dir = await realpath(path).catch(() => path);
  const residents = await residentsOf(dir);
  if (residents.length === 0) return [];
  const pids = new Set(residents.map((resident) => resident.pid));
  for (const resident of residents) if (!pids.has(resident.parent)) signal(resident.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && (await residentsOf(dir)).length > 0) await sleep(POLL_MS);
  for (const resident of await residentsOf(dir)) signal(resident.pid, 'SIGKILL');
  return [...pids];
}
