import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { SourceError } from '@tidemark/source-contract';
import { findTool } from '../tools';

const run = promisify(execFile);

export interface RecoveredServerOptions {
  port: number;
  /**
   * A directory of this run (created, owned by the server's user, mode 700): the unix socket, the server log and
   * the access file. Keep it short: a socket path may not exceed 107 bytes.
   */
  runDir: string;
  /** `listen_addresses` for this run (default 127.0.0.1). */
  listenAddresses?: string;
  /** Further settings for this run only (command line, never written to the data directory). */
  settings?: Readonly<Record<string, string>>;
  /** A role of the backed-up cluster to connect as first (default `postgres`); the bootstrap superuser is used after. */
  role?: string;
  /** How long recovery may take (default 6 hours); then the server is stopped and the start fails. */
  timeoutMs?: number;
  binDir?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RecoveredServer {
  port: number;
  /** The unix socket directory: the run directory, or one under the system's temp directory when that path is too long. */
  socketDir: string;
  /** The time of the last transaction recovery replayed (null: it replayed none). */
  reachedAt: Date | null;
  /** A connection to `database` as the bootstrap superuser over the unix socket; the caller ends it. */
  connect: (database: string) => Promise<Client>;
  /** Runs one statement in `database` as the cluster's bootstrap superuser, over the unix socket. */
  query: <T extends Record<string, unknown>>(database: string, sql: string) => Promise<T[]>;
  /** Stops the server (fast, then immediate); safe to call twice. */
  stop: () => Promise<void>;
}

/**
 * A recovery the server itself gave up on (the log's FATAL or PANIC says why): the WAL or the backup cannot be
 * replayed. Failures of the host (no port, no memory, no permission) are plain SourceErrors.
 */
export class RecoveryFailed extends SourceError {
  constructor(message: string) {
    super('restore-failed', message);
  }
}

/** FATAL messages that say the host, not the data, is at fault. */
const HOST_TROUBLE =
  /could not (bind|create (lock file|shared memory|any TCP\/IP sockets|Unix-domain socket))|lock file .* already exists|Permission denied|out of memory|No space left/i;

/** Unix socket paths may not exceed 107 bytes; leave room. */
const SOCKET_PATH_LIMIT = 100;

const READY = 'database system is ready to accept connections';
const POLL_MS = 250;
/** How long a server may look stopped without a FATAL line before the start counts as failed. */
const SILENT_DEATH_MS = 10_000;

/**
 * Starts PostgreSQL on a data directory prepared by writeRecoverySettings and waits until recovery has ended
 * (promoted). The run's settings travel on the command line: the port, a socket in `runDir`, an access file
 * there that trusts only that socket (then the directory's own pg_hba.conf), archiving off (a restored copy must
 * never archive into the source's archive) and hot standby off (no parameter checks against the source; nobody
 * connects before the end). A failed recovery is a SourceError('restore-failed') with the server log's FATAL line.
 */
export async function startRecoveredServer(
  dataDir: string,
  options: RecoveredServerOptions,
): Promise<RecoveredServer> {
  const env = options.env ?? process.env;
  const ctl = (await findTool('pg_ctl', { binDir: options.binDir, env, serverMajor: undefined })).path;
  const { runDir, port } = options;
  const log = join(runDir, 'server.log');
  await prepareRunDirectory(dataDir, runDir);
  const socketDir = await socketDirectory(runDir, port);
  const settings: Record<string, string> = {
    port: String(port),
    listen_addresses: options.listenAddresses ?? '127.0.0.1',
    unix_socket_directories: socketDir,
    hba_file: join(runDir, 'pg_hba.conf'),
    archive_mode: 'off',
    hot_standby: 'off',
    logging_collector: 'off',
    lc_messages: 'C',
    log_timezone: 'UTC',
    ...options.settings,
  };
  const started = await asServerUser(ctl, [
    'start',
    '-D',
    dataDir,
    '-W',
    '-l',
    log,
    '-o',
    commandLine(settings),
  ]);
  const stop = async (): Promise<void> => {
    const fast = await asServerUser(ctl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']);
    if (fast.code !== 0)
      await asServerUser(ctl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30']);
    if (socketDir !== runDir) await rm(socketDir, { recursive: true, force: true });
  };
  if (started.code !== 0) {
    await stop();
    throw new SourceError(
      'restore-failed',
      `pg_ctl could not start ${dataDir}: ${firstLine(started.stderr)}`,
    );
  }
  try {
    await waitForEndOfRecovery(ctl, dataDir, log, options.timeoutMs ?? 6 * 3_600_000);
    const { connect, query } = await superuserAccess(socketDir, port, options.role ?? 'postgres');
    const [state] = await query<{ recovering: boolean; replayed: Date | null }>(
      'postgres',
      'SELECT pg_catalog.pg_is_in_recovery() AS recovering, pg_catalog.pg_last_xact_replay_timestamp() AS replayed',
    );
    if (state?.recovering !== false)
      throw new SourceError(
        'restore-failed',
        `${dataDir} is still in recovery after it accepted connections`,
      );
    const reachedAt = state.replayed ?? lastCompletedTransaction(await readLog(log));
    return { port, socketDir, reachedAt, connect, query, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function socketDirectory(runDir: string, port: number): Promise<string> {
  if (join(runDir, `.s.PGSQL.${String(port)}`).length <= SOCKET_PATH_LIMIT) return runDir;
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-pg-'));
  if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', dir]);
  return dir;
}

/** A TCP port that was free on 127.0.0.1 a moment ago, for a scratch server. */
export async function freeLocalPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') throw new Error('could not find a free TCP port');
  return address.port;
}

async function prepareRunDirectory(dataDir: string, runDir: string): Promise<void> {
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  const own = await readFile(join(dataDir, 'pg_hba.conf'), 'utf8').catch(() => '');
  await writeFile(join(runDir, 'pg_hba.conf'), `local all all trust\n${own}`, { mode: 0o600 });
  // A Debian cluster keeps postgresql.conf outside its data directory, so its base backup has none.
  const conf = join(dataDir, 'postgresql.conf');
  await readFile(conf).catch(() => writeFile(conf, '', { mode: 0o600 }));
  await chmod(dataDir, 0o700);
  await chmod(runDir, 0o700);
  if (process.getuid?.() === 0) await run('chown', ['-R', 'postgres:postgres', dataDir, runDir]);
}

/** pg_ctl hands `-o` to a shell: each value single-quoted. */
function commandLine(settings: Record<string, string>): string {
  return Object.entries(settings)
    .map(([name, value]) => `-c ${name}='${value.replace(/'/g, `'\\''`)}'`)
    .join(' ');
}

async function waitForEndOfRecovery(
  ctl: string,
  dataDir: string,
  log: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let stoppedSince: number | undefined;
  for (;;) {
    const text = await readLog(log);
    if (text.includes(READY)) return;
    const running = (await asServerUser(ctl, ['status', '-D', dataDir])).code === 0;
    if (running) stoppedSince = undefined;
    else {
      stoppedSince ??= Date.now();
      const fatal = fatalLine(text);
      if (fatal !== undefined && !HOST_TROUBLE.test(fatal))
        throw new RecoveryFailed(`PostgreSQL could not recover ${dataDir}: ${fatal}`);
      if (fatal !== undefined || Date.now() - stoppedSince > SILENT_DEATH_MS)
        throw new SourceError(
          'restore-failed',
          `PostgreSQL could not start on ${dataDir}: ${fatal ?? lastLine(text) ?? 'it stopped without a message'}`,
        );
    }
    if (Date.now() > deadline)
      throw new SourceError(
        'restore-failed',
        `recovery of ${dataDir} did not end within ${String(timeoutMs)} ms`,
      );
    await sleep(POLL_MS);
  }
}

function readLog(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

/**
 * The server's last FATAL or PANIC message without the line prefix, with the line before it when that says why
 * (a bad setting is logged before "configuration file … contains errors").
 */
export function fatalLine(log: string): string | undefined {
  const lines = log.split('\n');
  const index = lines.findLastIndex((line) => /\b(FATAL|PANIC):/.test(line));
  if (index < 0) return undefined;
  const message = (line: string) => line.replace(/^.*?\b(FATAL|PANIC|LOG|ERROR):\s*/, '$1: ').trim();
  const fatal = message(lines[index] as string);
  const before = lines[index - 1];
  return before && /\b(LOG|ERROR):\s+invalid value|\bERROR:/.test(before)
    ? `${fatal} (${message(before)})`
    : fatal;
}

function lastLine(log: string): string | undefined {
  return log.trim().split('\n').at(-1)?.trim() || undefined;
}

/** `last completed transaction was at log time 2026-12-03 11:05:00.123456+00`, logged at the end of redo. */
function lastCompletedTransaction(log: string): Date | null {
  const match =
    /last completed transaction was at log time (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\+00/.exec(log);
  return match ? new Date(`${(match[1] as string).replace(' ', 'T')}Z`) : null;
}

/**
 * Connections over the socket as the bootstrap superuser (oid 10), whose name a restored cluster need not share
 * with this host: the first connection, as `role`, reads it.
 */
async function superuserAccess(
  socketDir: string,
  port: number,
  role: string,
): Promise<Pick<RecoveredServer, 'connect' | 'query'>> {
  const connectAs = async (user: string, database: string): Promise<Client> => {
    const client = new Client({ host: socketDir, port, user, database });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new SourceError(
        'restore-failed',
        `cannot connect to ${database} on the recovered server: ${(err as Error).message}`,
      );
    }
  };
  const queryOnce = async <T extends Record<string, unknown>>(client: Client, sql: string): Promise<T[]> => {
    try {
      return (await client.query<T>(sql)).rows;
    } catch (err) {
      throw new SourceError(
        'restore-failed',
        `the recovered server refused "${sql.slice(0, 80)}": ${(err as Error).message}`,
      );
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const first = await connectAs(role, 'postgres');
  const [row] = await queryOnce<{ name: string }>(
    first,
    'SELECT rolname AS name FROM pg_catalog.pg_roles WHERE oid = 10',
  );
  const superuser = row?.name ?? role;
  const connect = (database: string) => connectAs(superuser, database);
  return {
    connect,
    query: async <T extends Record<string, unknown>>(database: string, sql: string) =>
      queryOnce<T>(await connect(database), sql),
  };
}

/** Runs a server tool as the `postgres` user when this process is root (PostgreSQL refuses to run as root). */
async function asServerUser(command: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const [file, argv] =
    process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  try {
    const { stderr } = await run(file, argv, {
      timeout: 120_000,
      env: { PATH: process.env['PATH'], LC_ALL: 'C' },
    });
    return { code: 0, stderr };
  } catch (err) {
    const failure = err as { code?: number | string; stderr?: string; message: string };
    return {
      code: typeof failure.code === 'number' ? failure.code : -1,
      stderr: failure.stderr ?? failure.message,
    };
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
