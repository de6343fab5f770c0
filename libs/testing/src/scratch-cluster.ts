import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from './names';
import { waitFor } from './wait';

const run = promisify(execFile);

/** The machine's PostgreSQL 15 server binaries (initdb, pg_ctl, pg_basebackup, pg_receivewal, …). */
export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface ScratchClusterOptions {
  /** Extra postgresql.conf lines, e.g. `archive_mode = on`. */
  settings?: string[];
  /** initdb's --wal-segsize in MiB (default 16). */
  walSegmentMiB?: number;
}

export interface ScratchCluster {
  port: number;
  dataDir: string;
  binDir: string;
  /** Superuser url (trust from 127.0.0.1), database postgres. */
  url: string;
  /** A LOGIN REPLICATION role with a password (scram), as a physical target's url names it. */
  replicationUrl: string;
  replicationRole: string;
  replicationPassword: string;
  /** The same server as a LOGIN role without REPLICATION. */
  plainUrl: string;
  query<T extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    database?: string,
  ): Promise<T[]>;
  start(): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and removes its data directory. */
  remove(): Promise<void>;
}

/**
 * A PostgreSQL cluster of the test's own: initdb on a free port with `wal_level = replica` and replication allowed
 * from 127.0.0.1 (the machine's cluster refuses replication connections). initdb and pg_ctl refuse to run as
 * root, so as root they run as the `postgres` user, which then owns the data directory.
 */
export async function startScratchCluster(options: ScratchClusterOptions = {}): Promise<ScratchCluster> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'tidemark-pgcluster-'));
  await ownByPostgres(dataDir);
  await asPostgres(`${PG_BIN}/initdb`, [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '--no-sync',
    '--no-instructions',
    `--wal-segsize=${String(options.walSegmentMiB ?? 16)}`,
  ]);
  await appendFile(
    join(dataDir, 'postgresql.conf'),
    [
      `port = ${String(port)}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dataDir}'`,
      'wal_level = replica',
      'max_wal_senders = 10',
      'max_replication_slots = 10',
      'fsync = off',
      'shared_buffers = 32MB',
      ...(options.settings ?? []),
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dataDir, 'pg_hba.conf'),
    [
      'local all all trust',
      'host all postgres 127.0.0.1/32 trust',
      'host replication postgres 127.0.0.1/32 trust',
      'host replication all 127.0.0.1/32 scram-sha-256',
      'host all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  const ctl = (args: string[]) => asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dataDir, ...args]);
  const url = `postgres://postgres@127.0.0.1:${String(port)}/postgres`;
  const query = async <T extends Record<string, unknown>>(
    sql: string,
    database = 'postgres',
  ): Promise<T[]> => {
    const client = new Client({
      connectionString: `postgres://postgres@127.0.0.1:${String(port)}/${database}`,
    });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  const start = async () => {
    await ctl(['-l', join(dataDir, 'server.log'), '-w', '-t', '60', 'start']);
    await waitFor(() => query('SELECT 1').then(() => true), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `scratch PostgreSQL on port ${String(port)}`,
    });
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await ctl(['-m', mode, '-w', 'stop']).catch(() => undefined);
  };
  await start();
  const replicationRole = 'tidemark_backup';
  const replicationPassword = randomBytes(12).toString('hex');
  await query(`CREATE ROLE ${replicationRole} LOGIN REPLICATION PASSWORD '${replicationPassword}'`);
  await query(`GRANT pg_read_all_settings, pg_read_all_stats TO ${replicationRole}`);
  await query(`CREATE ROLE tidemark_plain LOGIN PASSWORD '${replicationPassword}'`);
  const host = `127.0.0.1:${String(port)}`;
  return {
    port,
    dataDir,
    binDir: PG_BIN,
    url,
    replicationUrl: `postgres://${replicationRole}:${replicationPassword}@${host}/postgres`,
    replicationRole,
    replicationPassword,
    plainUrl: `postgres://tidemark_plain:${replicationPassword}@${host}/postgres`,
    query,
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    remove: async () => {
      await stop('immediate');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function ownByPostgres(path: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const { stdout } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  await chown(path, Number(stdout.trim()), Number(gid.trim()));
}

/** Runs a PostgreSQL server tool, as the postgres user when this process is root. */
export async function asPostgres(command: string, args: string[]): Promise<string> {
  const [file, argv] =
    process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  try {
    const { stdout } = await run(file, argv, { timeout: 120_000 });
    return stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || String(err)}`, {
      cause: err,
    });
  }
}
