import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import { Client, type ClientConfig } from 'pg';
import {
  decodeUrlPart,
  errorCode,
  errorMessage,
  maskUrl,
  networkReasons,
  SourceError,
} from '@tidemark/source-contract';
import { redact } from '@tidemark/redaction';

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
type SslMode = (typeof SSL_MODES)[number];

// Parameters outside this list are refused rather than silently ignored, so the tools and the queries
// can never end up talking to different servers or with different security.
const URL_PARAMETERS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'host'] as const;

const CONNECT_TIMEOUT_SECONDS = 5;
const NO_HOST = 'tidemark-no-host.invalid';
export const APPLICATION_NAME = 'tidemark';

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  sslMode?: SslMode;
  sslRootCert?: string;
  sslCert?: string;
  sslKey?: string;
}

export function parsePostgresUrl(url: string, env: NodeJS.ProcessEnv): PgTarget {
  const invalid = (reason: string): SourceError =>
    new SourceError('invalid-url', `invalid PostgreSQL URL "${maskUrl(url)}": ${reason}`);
  if (!/^postgres(ql)?:\/\//i.test(url)) throw invalid('it must start with postgres:// or postgresql://');
  let parsed: URL;
  try {
    // libpq accepts `postgres://user@/db?host=/socket/dir`; WHATWG URLs do not allow userinfo without a host.
    parsed = new URL(url.replace(/^([a-z]+:\/\/[^/?#]*@)(?=[/?#]|$)/i, `$1${NO_HOST}`));
  } catch {
    throw invalid('it cannot be parsed');
  }
  const decode = (part: string, what: string): string => decodeUrlPart(part, what, invalid);
  for (const key of parsed.searchParams.keys()) {
    if (!(URL_PARAMETERS as readonly string[]).includes(key)) {
      throw invalid(`unsupported parameter "${key}" (supported: ${URL_PARAMETERS.join(', ')})`);
    }
  }
  const params = parsed.searchParams;
  const sslMode = params.get('sslmode') ?? undefined;
  if (sslMode !== undefined && !(SSL_MODES as readonly string[]).includes(sslMode)) {
    throw invalid(`sslmode must be one of ${SSL_MODES.join(', ')}`);
  }
  const urlHost = parsed.hostname === NO_HOST ? '' : parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const host = params.get('host') ?? urlHost;
  if (!host) throw invalid('it names no host');
  const database = decode(parsed.pathname.replace(/^\//, ''), 'database');
  if (!database) throw invalid('it names no database');
  if (database.includes('/')) throw invalid('the database name cannot contain "/"');
  const password = parsed.password ? decode(parsed.password, 'password') : env['PGPASSWORD'];
  return {
    host,
    port: parsed.port ? Number(parsed.port) : 5432,
    user: parsed.username ? decode(parsed.username, 'user') : (env['PGUSER'] ?? userInfo().username),
    ...(password ? { password } : {}),
    database,
    ...(sslMode ? { sslMode: sslMode as SslMode } : {}),
    ...optional('sslRootCert', params.get('sslrootcert')),
    ...optional('sslCert', params.get('sslcert')),
    ...optional('sslKey', params.get('sslkey')),
  };
}

function optional<K extends string>(key: K, value: string | null): Partial<Record<K, string>> {
  return value ? ({ [key]: value } as Record<K, string>) : {};
}

export function address(target: PgTarget): string {
  return `${target.host}:${target.port}`;
}

/**
 * Environment for pg_dump/pg_restore: the inherited PG* variables are dropped so that nothing ambient
 * (PGSERVICE, PGOPTIONS, another PGHOST) can point a tool somewhere the queries do not go.
 */
export function toolEnv(
  target: PgTarget,
  database: string | undefined,
  base: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) if (!key.startsWith('PG')) env[key] = value;
  if (database === undefined) return env;
  env['PGHOST'] = target.host;
  env['PGPORT'] = String(target.port);
  env['PGUSER'] = target.user;
  env['PGDATABASE'] = database;
  env['PGAPPNAME'] = APPLICATION_NAME;
  env['PGCONNECT_TIMEOUT'] = String(CONNECT_TIMEOUT_SECONDS);
  if (target.password) env['PGPASSWORD'] = target.password;
  if (target.sslMode) env['PGSSLMODE'] = target.sslMode;
  if (target.sslRootCert) env['PGSSLROOTCERT'] = target.sslRootCert;
  if (target.sslCert) env['PGSSLCERT'] = target.sslCert;
  if (target.sslKey) env['PGSSLKEY'] = target.sslKey;
  return env;
}

/** node-postgres TLS options that follow libpq's meaning of sslmode. */
function tlsOptions(target: PgTarget): ClientConfig['ssl'] {
  const mode = target.sslMode;
  // node-postgres cannot fall back from TLS to plain the way libpq's allow/prefer do; plain is what works everywhere.
  if (mode === undefined || mode === 'disable' || mode === 'allow' || mode === 'prefer') return false;
  const tls: ConnectionOptions = {};
  if (target.sslRootCert) tls.ca = readFileSync(target.sslRootCert);
  if (target.sslCert) tls.cert = readFileSync(target.sslCert);
  if (target.sslKey) tls.key = readFileSync(target.sslKey);
  // libpq: require without a root certificate only encrypts; with one it verifies the chain like verify-ca.
  if (mode === 'require' && !target.sslRootCert) tls.rejectUnauthorized = false;
  if (mode === 'verify-ca' || mode === 'require') tls.checkServerIdentity = () => undefined;
  return tls;
}

/** Opens a pg client to `database` on the target's server; connection failures become SourceErrors. */
export async function connect(target: PgTarget, database: string): Promise<Client> {
  const client = new Client({
    host: target.host,
    port: target.port,
    user: target.user,
    database,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000,
    ssl: tlsOptions(target),
    ...(target.password ? { password: target.password } : {}),
  });
  // A connection lost while idle surfaces on the next query; the event alone must not crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw connectError(err, target, database);
  }
  return client;
}

const NETWORK_REASONS: Record<string, string> = {
  ...networkReasons(CONNECT_TIMEOUT_SECONDS),
  ENOENT: 'no server socket there',
};

export function connectError(err: unknown, target: PgTarget, database: string): SourceError {
  if (err instanceof SourceError) return err;
  const code = errorCode(err);
  const message = redact(errorMessage(err), [target.password]);
  const where = address(target);
  if (code === '28P01' || code === '28000') {
    return new SourceError('source-auth', `PostgreSQL at ${where} refused user "${target.user}": ${message}`);
  }
  if (code === '3D000') {
    return new SourceError('source-missing-database', `database "${database}" does not exist on ${where}`);
  }
  const reason =
    (code && NETWORK_REASONS[code]) ??
    (/timeout/i.test(message) ? `timed out after ${CONNECT_TIMEOUT_SECONDS} s` : message);
  return new SourceError('source-unreachable', `cannot reach PostgreSQL at ${where}: ${reason}`);
}
