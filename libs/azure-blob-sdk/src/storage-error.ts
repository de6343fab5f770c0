import { redact } from '@tidemark/redaction';

export const STORAGE_ERROR_CODES = [
  'unavailable',
  'exists',
  'precondition',
  'not-found',
  'integrity',
  'not-configured',
  'auth',
  // A blob version under an immutability policy or legal hold refused a delete, a shortening or a removal.
  'immutable',
  // The service does not implement the call (Azurite and version-level immutability).
  'not-supported',
  'unknown',
] as const;
export type StorageErrorCode = (typeof STORAGE_ERROR_CODES)[number];

/**
 * Every failure of the storage layer, reduced to a code callers branch on and a one-line message that
 * names the endpoint, container or blob. The SDK error is deliberately not kept as `cause`: it carries the
 * request with its headers, and loggers serialise causes.
 */
export class StorageError extends Error {
  override readonly name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    /** HTTP status and service error code when the service answered, for logs and metrics. */
    readonly detail: { status?: number; serviceCode?: string } = {},
  ) {
    super(message);
  }
}

export function isStorageError(err: unknown, code?: StorageErrorCode): err is StorageError {
  return err instanceof StorageError && (code === undefined || err.code === code);
}

/** Node, undici, ioredis and Azure SDK codes of a connection that failed or broke: the far side is away, not wrong. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'REQUEST_SEND_ERROR',
]);
export function isNetworkErrorCode(code: string): boolean {
  return NETWORK_CODES.has(code);
}

const INTEGRITY_CODES = new Set(['Md5Mismatch', 'Crc64Mismatch', 'InvalidMd5', 'InvalidCrc64']);
const UNAVAILABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export interface ErrorContext {
  /** Account URL without credentials. */
  endpoint: string;
  /** What was being done, e.g. `commit orders-db/…/dump.pgc.zst in tidemark-backups`. */
  action: string;
  /** The operation carried If-None-Match: *, so a failed condition means the blob exists. */
  ifNoneMatch?: boolean;
}

/** Maps an SDK, network or credential error to a StorageError with a single-line, secret-free message. */
export function toStorageError(err: unknown, context: ErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    name?: unknown;
    code?: unknown;
    statusCode?: unknown;
    message?: unknown;
    details?: unknown;
  };
  const detail = serviceFailure(err);
  const { status, serviceCode } = detail;
  const reason = errorReason(err);
  const what = `${context.action} failed`;

  if (e.name === 'AbortError') {
    return new StorageError(
      'unavailable',
      `Blob Storage at ${context.endpoint} did not answer in time (${what})`,
    );
  }
  if (status === undefined) {
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
      return new StorageError(
        'unavailable',
        `Blob Storage at ${context.endpoint} is unreachable (${reason})`,
      );
    }
    if (e.name === 'CredentialUnavailableError' || e.name === 'AuthenticationError') {
      return new StorageError('auth', `no usable Azure credential for ${context.endpoint}: ${reason}`);
    }
    return new StorageError('unknown', `${what}: ${reason}`);
  }
  const why = serviceCode ?? `HTTP ${status}`;
  if (status === 401 || status === 403) {
    return new StorageError('auth', `${what}: access denied by ${context.endpoint} (${why})`, detail);
  }
  if (status === 404) return new StorageError('not-found', `${what}: not found (${why})`, detail);
  if (status === 501) {
    return new StorageError(
      'not-supported',
      `${what}: ${context.endpoint} does not implement it (${why})`,
      detail,
    );
  }
  if (status === 409 && serviceCode !== undefined && IMMUTABLE_CODES.test(serviceCode)) {
    return new StorageError('immutable', `${what}: the blob is protected (${why})`, detail);
  }
  if (status === 409 && (serviceCode === 'BlobAlreadyExists' || serviceCode === 'ContainerAlreadyExists')) {
    return new StorageError('exists', `${what}: it already exists`, detail);
  }
  if (status === 412 || (status === 409 && context.ifNoneMatch === true)) {
    return context.ifNoneMatch === true
      ? new StorageError('exists', `${what}: it already exists`, detail)
      : new StorageError('precondition', `${what}: it changed since it was read (${why})`, detail);
  }
  if (serviceCode !== undefined && INTEGRITY_CODES.has(serviceCode)) {
    return new StorageError(
      'integrity',
      `${what}: the service received different bytes than were sent (${why})`,
      detail,
    );
  }
  if (serviceCode === 'BlobArchived') {
    return new StorageError(
      'unknown',
      `${what}: the blob is in the Archive tier and must be rehydrated first`,
      detail,
    );
  }
  if (UNAVAILABLE_STATUS.has(status)) {
    return new StorageError(
      'unavailable',
      `${what}: Blob Storage at ${context.endpoint} is unavailable (${why})`,
      detail,
    );
  }
  return new StorageError('unknown', `${what}: ${why}: ${reason}`, detail);
}

/**
 * Azure's refusals of a protected version: BlobImmutableDueToPolicy, BlobImmutableDueToLegalHold, and the
 * refusals to shorten or remove a locked policy (ImmutabilityPolicy...).
 */
const IMMUTABLE_CODES = /^(BlobImmutable|ImmutabilityPolicy|ImmutableStorage)/;

/** HTTP status and the service's error code (x-ms-error-code) of an SDK error, when the service answered. */
export function serviceFailure(err: unknown): { status?: number; serviceCode?: string } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { statusCode?: unknown };
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const serviceCode = serviceErrorCode(err);
  return { ...(status !== undefined && { status }), ...(serviceCode !== undefined && { serviceCode }) };
}

function serviceErrorCode(err: unknown): string | undefined {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; details?: unknown };
  // Storage puts its error code in x-ms-error-code (parsed into details.errorCode) and also in RestError.code.
  const details = e.details as { errorCode?: unknown } | undefined;
  if (typeof details?.errorCode === 'string') return details.errorCode;
  if (typeof e.code === 'string' && /^[A-Z][A-Za-z0-9]+$/.test(e.code)) return e.code;
  return undefined;
}

/**
 * An SDK error's message for a one-line error: the first line only (service messages append RequestId and Time
 * lines), with anything key-like and each of `secrets` masked.
 */
export function errorReason(err: unknown, secrets: readonly string[] = []): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  return redact(message.split(/\r?\n/)[0]?.trim() ?? '', secrets);
}
