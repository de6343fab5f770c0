import { access, constants, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The parts of a physical target's url that pg_receivewal and the slot queries need. */
export interface ReplicationTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export class ArchivingError extends Error {
  override readonly name = 'ArchivingError';
}

/** Parses `postgres://user:password@host:port/db`; errors name the url without its password. */
export function parseTargetUrl(url: string): ReplicationTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ArchivingError('the target url cannot be parsed');
  }
  if (!/^postgres(ql)?:$/.test(parsed.protocol)) {
    throw new ArchivingError('the target url must start with postgres:// or postgresql://');
  }
  if (!parsed.hostname) throw new ArchivingError('the target url names no host');
  if (!parsed.username) throw new ArchivingError('the target url names no user');
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username),
    ...(password ? { password } : {}),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
  };
}

function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * libpq conninfo without the password: the password travels in PGPASSWORD, never in argv. A receiver names its
 * own connection, so it can find its walsender in pg_stat_replication.
 */
export function conninfo(target: ReplicationTarget, applicationName = 'tidemark-archiver'): string {
  return [
    `host=${conninfoValue(target.host)}`,
    `port=${String(target.port)}`,
    `user=${conninfoValue(target.user)}`,
    `dbname=${conninfoValue(target.database)}`,
    `application_name=${conninfoValue(applicationName)}`,
  ].join(' ');
}

/** The tool's environment: inherited PG* variables dropped (nothing ambient may redirect it), then the password. */
export function receiverEnv(target: ReplicationTarget, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) if (!key.startsWith('PG')) env[key] = value;
  env['PGCONNECT_TIMEOUT'] = '10';
  if (target.password) env['PGPASSWORD'] = target.password;
  return env;
}

const DEBIAN_ROOT = '/usr/lib/postgresql';

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** pg_receivewal: TIDEMARK_PG_BIN, else the newest Debian install (as libs/sources-postgres finds pg_dump). */
export async function findPgReceivewal(env: NodeJS.ProcessEnv): Promise<string> {
  const explicit = env['TIDEMARK_PG_BIN'];
  if (explicit) {
    const path = join(explicit, 'pg_receivewal');
    if (await isExecutable(path)) return path;
    throw new ArchivingError(`pg_receivewal not found in ${explicit} (set TIDEMARK_PG_BIN)`);
  }
  const majors = (await readdir(DEBIAN_ROOT).catch(() => [] as string[]))
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .sort((a, b) => b - a);
  for (const major of majors) {
    const path = join(DEBIAN_ROOT, String(major), 'bin', 'pg_receivewal');
    if (await isExecutable(path)) return path;
  }
  throw new ArchivingError(`pg_receivewal not found in ${DEBIAN_ROOT}/*/bin (set TIDEMARK_PG_BIN)`);
}
