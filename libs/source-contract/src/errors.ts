import { redact } from '@tidemark/redaction';
import { SourceError, type SourceErrorCode } from './source';

/** The `code` of a failed call (an errno name such as `ENOENT`, or a driver's code), if it has one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string')
    return err.code;
  return undefined;
}

/** Text (a tool's or a driver's message) as one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** An error's message on one line. */
export function errorMessage(err: unknown): string {
  return oneLine(err instanceof Error ? err.message : String(err));
}

/** The URL as it may appear in a message: everything between `user:` and the last `@` hidden. */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*:).*@/i, '$1***@');
}

/** %-decodes one part of a connection URL; a bad escape is the URL's `invalid` error, naming the part. */
export function decodeUrlPart(part: string, what: string, invalid: (reason: string) => SourceError): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(`the ${what} has a bad %-escape`);
  }
}

/** Plain words for the socket errors of a server that cannot be reached, by error code. */
export function networkReasons(connectTimeoutSeconds: number): Record<string, string> {
  return {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ETIMEDOUT: `timed out after ${connectTimeoutSeconds} s`,
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ECONNRESET: 'connection reset',
  };
}

/** How a database server's failures read: what to hide, and which errors mean it cannot be reached. */
export interface ServerFailures {
  password: string | undefined;
  /** The server went away, as opposed to refusing a statement. */
  isConnectionFailure(err: unknown): boolean;
  /** The SourceError for a server that cannot be reached (or refuses us). */
  connectError(err: unknown): SourceError;
}

/** Runs server work, turning anything unexpected into a one-line SourceError without the password. */
export async function serverWork<T>(
  server: ServerFailures,
  code: SourceErrorCode,
  work: () => Promise<T>,
  options: { prefix?: string } = {},
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof SourceError) throw err;
    if (server.isConnectionFailure(err)) throw server.connectError(err);
    const message = redact(errorMessage(err), [server.password]);
    throw new SourceError(code, options.prefix ? `${options.prefix}: ${message}` : message);
  }
}

/** An existing database is not replaced while anyone is connected to it. */
export function busyError(database: string, sessions: number): SourceError {
  const noun = sessions === 1 ? 'session is' : 'sessions are';
  return new SourceError(
    'target-busy',
    `database "${database}" cannot be replaced while ${sessions} other ${noun} connected to it; disconnect them and retry (nothing was changed)`,
  );
}

/** The staging database of a restore is in use: that restore is still running. */
export function restoreInProgressError(database: string, staging: string): SourceError {
  return new SourceError(
    'target-busy',
    `another restore of database "${database}" is in progress (its database "${staging}" is in use)`,
  );
}
