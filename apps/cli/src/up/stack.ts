import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SERVICE_NODE_FLAGS } from '@tidemark/environment';

export const REPO_ROOT = join(__dirname, '..', '..', '..', '..');

export const SERVICES = [
  { name: 'scheduler', port: 3000 },
  { name: 'dumper', port: 3001 },
  { name: 'uploader', port: 3002 },
  { name: 'verifier', port: 3003 },
  { name: 'retention', port: 3004 },
  { name: 'archiver', port: 3005 },
  // Always started: without `notifications:` in the config it idles (ready, consuming nothing).
  { name: 'notifier', port: 3006 },
] as const;

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

const COLORS = [36, 33, 35, 32, 34, 31, 90];

/** Prefixes every line a child prints with its name; pino JSON lines are shortened to level, message and ids. */
function pipeLines(
  name: string,
  color: number,
  stream: NodeJS.ReadableStream | null,
  out: NodeJS.WriteStream,
): void {
  if (!stream) return;
  const prefix = out.isTTY ? `\u001b[${color}m[${name}]\u001b[0m` : `[${name}]`;
  createInterface({ input: stream }).on('line', (line) => {
    out.write(`${prefix} ${compactLog(line)}\n`);
  });
}

function compactLog(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    const levels: Record<number, string> = {
      10: 'trace',
      20: 'debug',
      30: 'info',
      40: 'warn',
      50: 'error',
      60: 'fatal',
    };
    const level = levels[Number(entry['level'])] ?? 'info';
    const ids = ['targetId', 'backupId', 'durationMs', 'err']
      .filter((k) => entry[k] !== undefined)
      .map((k) => `${k}=${typeof entry[k] === 'string' ? entry[k] : JSON.stringify(entry[k])}`);
    return `${level.padEnd(5)} ${typeof entry['msg'] === 'string' ? entry['msg'] : ''} ${ids.join(' ')}`.trimEnd();
  } catch {
    return line;
  }
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  index: number,
): RunningProcess {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const color = COLORS[index % COLORS.length] ?? 36;
  pipeLines(name, color, child.stdout, process.stdout);
  pipeLines(name, color, child.stderr, process.stderr);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
    child.once('error', () => {
      resolve(-1);
    });
  });
  return { name, child, exited };
}

/**
 * Compiles the services to dist/ (SWC, about a second). Services then run as plain JavaScript: no compiler in
 * each process, which saves about 60 MB of memory per service and starts faster.
 */
export function buildServices(): void {
  const result = spawnSync(process.execPath, [join(REPO_ROOT, 'tools', 'build.mjs')], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0)
    throw new Error(`compiling the services failed: ${(result.stderr || result.stdout).trim()}`);
}

/** A service of the stack, from dist/ (see buildServices). */
export function startService(
  service: (typeof SERVICES)[number],
  env: NodeJS.ProcessEnv,
  index: number,
): RunningProcess {
  const main = join(REPO_ROOT, 'dist', 'apps', service.name, 'src', 'main.js');
  return startProcess(
    service.name,
    process.execPath,
    [...SERVICE_NODE_FLAGS, main],
    { ...env, PORT: String(service.port) },
    index,
  );
}

export async function startAzurite(port: number, env: NodeJS.ProcessEnv): Promise<RunningProcess> {
  const location = join(REPO_ROOT, '.tidemark', 'azurite');
  await mkdir(location, { recursive: true, mode: 0o700 });
  const bin = join(REPO_ROOT, 'node_modules', '.bin', 'azurite-blob');
  const args = [
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(port),
    '--location',
    location,
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--loose',
  ];
  const azurite = startProcess('azurite', bin, args, env, 5);
  await waitForPort(port, 30_000, 'Azurite');
  return azurite;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not start listening on port ${port} within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until every service answers /readyz with 200 (Redis and storage reachable). */
export async function waitReady(timeoutMs: number, running: RunningProcess[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const service of SERVICES) {
    for (;;) {
      const exited = running.find((p) => p.name === service.name && p.child.exitCode !== null);
      if (exited)
        throw new Error(
          `${service.name} exited with code ${String(exited.child.exitCode)} during start (see its log above)`,
        );
      const ok = await fetch(`http://127.0.0.1:${service.port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline)
        throw new Error(`${service.name} was not ready on port ${service.port} within ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** SIGTERM to all (services drain their current job), SIGKILL after the grace period. */
export async function stopAll(running: RunningProcess[], graceMs = 30_000): Promise<void> {
  for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }, graceMs);
  await Promise.all(running.map((p) => p.exited));
  clearTimeout(timer);
}
