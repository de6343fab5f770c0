import { userInfo } from 'node:os';
import type { Connection } from 'mysql2/promise';
import {
  decodeUrlPart,
  errorCode,
  errorMessage,
  maskUrl,
  networkReasons,
  type ServerFailures,
  SourceError,
} from '@tidemark/source-contract';
import { redact } from '@tidemark/redaction';

// The driver loads with the first connection, not with the registry of kinds: every service imports the registry,
// and most never reach a MySQL server (mysql2 is ~2 MiB of RSS).
/* eslint-disable @typescript-eslint/no-require-imports */
const mysql2 = (): typeof import('mysql2/promise') =>
  require('mysql2/promise') as typeof import('mysql2/promise');
/* eslint-enable @typescript-eslint/no-require-imports */

const DEFAULT_PORT = 3306;
export const CONNECT_TIMEOUT_SECONDS = 10;

export interface MysqlTarget {
  /** `MySQL` or `MariaDB`, from the URL scheme; only used to word messages. */
  product: string;
  host: string;
  port: number;
  user: string;
  /** Empty when the URL has none: the server is then asked without a password, by the tools too. */
  password: string;
  database: string;
}

/** `mysql://user:password@host:port/database` or `mariadb://…`; user and password are %-decoded. */
export function parseMysqlUrl(url: string): MysqlTarget {
  const invalid = (reason: string): SourceError =>
    new SourceError('invalid-url', `invalid MySQL URL "${maskUrl(url)}": ${reason}`);
  const scheme = /^(mysql|mariadb):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (!scheme) throw invalid('it must start with mysql:// or mariadb://');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('it cannot be parsed');
  }
  const decode = (part: string, what: string): string => decodeUrlPart(part, what, invalid);
  // Refused rather than ignored: a silently dropped TLS or socket setting would make the tools and the
  // queries connect differently.
  const parameter = parsed.searchParams.keys().next();
  if (!parameter.done) throw invalid(`unsupported parameter "${parameter.value}" (none are supported)`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalid('it names no host');
  const database = decode(parsed.pathname.replace(/^\//, ''), 'database');
  if (!database) throw invalid('it names no database (mysql://user:password@host:port/database)');
  if (database.includes('/')) throw invalid('the database name cannot contain "/"');
  return {
    product: scheme === 'mariadb' ? 'MariaDB' : 'MySQL',
    host,
    port: parsed.port ? Number(parsed.port) : DEFAULT_PORT,
    user: parsed.username ? decode(parsed.username, 'user') : userInfo().username,
    password: parsed.password ? decode(parsed.password, 'password') : '',
    database,
  };
}

export function address(target: MysqlTarget): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/** Opens a connection, to `database` or to none; connection failures become SourceErrors. */
export async function connect(target: MysqlTarget, database: string | undefined): Promise<Connection> {
  let connection: Connection;
  try {
    connection = await mysql2().createConnection({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      ...(database === undefined ? {} : { database }),
      connectTimeout: CONNECT_TIMEOUT_SECONDS * 1000,
      charset: 'utf8mb4_general_ci',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
  } catch (err) {
    throw connectError(err, target, database ?? target.database);
  }
  // A connection lost while idle surfaces on the next query; the event alone must not crash the process.
  connection.on('error', () => undefined);
  return connection;
}

/** Closes without waiting on a server that may be gone. */
export async function close(connection: Connection): Promise<void> {
  try {
    await connection.end();
  } catch {
    connection.destroy();
  }
}

const NETWORK_REASONS: Record<string, string> = {
  ...networkReasons(CONNECT_TIMEOUT_SECONDS),
  PROTOCOL_CONNECTION_LOST: 'connection lost',
};

// ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR.
const AUTH_ERRNOS = new Set([1044, 1045, 1698]);
const ER_BAD_DB_ERROR = 1049;

export function connectError(err: unknown, target: MysqlTarget, database: string): SourceError {
  if (err instanceof SourceError) return err;
  const code = errorCode(err);
  const errno = errorNumber(err);
  const message = redact(errorMessage(err), [target.password]);
  const where = `${target.product} at ${address(target)}`;
  if (errno !== undefined && AUTH_ERRNOS.has(errno)) {
    return new SourceError('source-auth', `${where} refused user "${target.user}": ${message}`);
  }
  if (errno === ER_BAD_DB_ERROR) {
    return new SourceError(
      'source-missing-database',
      `database "${database}" does not exist on ${address(target)}`,
    );
  }
  const reason = (code && NETWORK_REASONS[code]) ?? message;
  return new SourceError('source-unreachable', `cannot reach ${where}: ${reason}`);
}

/** For server work: the password to hide, and which failures mean the server cannot be reached. */
export function serverFailures(target: MysqlTarget): ServerFailures {
  const unreachable = (err: unknown): SourceError => connectError(err, target, target.database);
  return { password: target.password, isConnectionFailure, connectError: unreachable };
}

/** Errors that mean the server went away, as opposed to a statement it refused. */
export function isConnectionFailure(err: unknown): boolean {
  const code = errorCode(err);
  return (
    code !== undefined &&
    (code in NETWORK_REASONS || /^(EPIPE|ECONN|PROTOCOL_|ER_SERVER_SHUTDOWN|ER_CON_COUNT)/.test(code))
  );
}

function errorNumber(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'errno' in err && typeof err.errno === 'number')
    return err.errno;
  return undefined;
}

/** A backtick-quoted identifier; any name is safe inside it. */
export function quoteIdent(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}
