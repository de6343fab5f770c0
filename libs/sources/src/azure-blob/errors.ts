import { SourceError, type SourceErrorCode } from '../source';

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

/** What a failed call was doing, for a one-line message that names the container and account. */
export interface CallContext {
  host: string;
  container: string;
  /** e.g. `list blobs of media`; prefixed to messages that are not about reachability or access. */
  action: string;
  /** The code for failures that are neither connectivity, auth nor a missing container. */
  code: SourceErrorCode;
  secrets: readonly string[];
}

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  details?: unknown;
}

/** HTTP status and the service's error code (x-ms-error-code) of an SDK error, when the service answered. */
export function serviceFailure(err: unknown): { status?: number; serviceCode?: string } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorShape;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const details = e.details as { errorCode?: unknown } | undefined;
  const serviceCode =
    typeof details?.errorCode === 'string'
      ? details.errorCode
      : typeof e.code === 'string' && /^[A-Z][A-Za-z0-9]+$/.test(e.code)
        ? e.code
        : undefined;
  return { ...(status !== undefined && { status }), ...(serviceCode !== undefined && { serviceCode }) };
}

/**
 * Maps an SDK, network or credential error to a SourceError with one secret-free line. The SDK error is not
 * kept as `cause`: it carries the request, SAS included, and loggers serialise causes.
 */
export function toSourceError(err: unknown, context: CallContext): SourceError {
  if (err instanceof SourceError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorShape;
  const { status, serviceCode } = serviceFailure(err);
  const clean = (text: string): string => redact(text, context.secrets);
  const reason = clean(firstLine(typeof e.message === 'string' ? e.message : String(err)));
  const where = `container "${context.container}" at ${context.host}`;
  if (status === undefined) {
    if (e.name === 'AbortError') {
      return new SourceError(
        'source-unreachable',
        `Blob Storage at ${context.host} did not answer in time (${context.action})`,
      );
    }
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
      return new SourceError(
        'source-unreachable',
        `Blob Storage at ${context.host} is unreachable (${reason})`,
      );
    }
    if (e.name === 'CredentialUnavailableError' || e.name === 'AuthenticationError') {
      return new SourceError('source-auth', `no usable Azure credential for ${where}: ${reason}`);
    }
    return new SourceError(context.code, `${context.action} failed: ${reason}`);
  }
  const why = serviceCode ?? `HTTP ${String(status)}`;
  if (status === 401 || status === 403) {
    return new SourceError('source-auth', `access to ${where} denied (${why})`);
  }
  if (status === 404 && serviceCode === 'ContainerNotFound') {
    return new SourceError('source-missing-database', `${where} does not exist`);
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new SourceError(
      'source-unreachable',
      `${context.action} failed: Blob Storage at ${context.host} is unavailable (${why})`,
    );
  }
  return new SourceError(context.code, `${context.action} failed (${why}): ${reason}`);
}

/** Masks account keys, SAS signatures and the given exact secrets. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out
    .replace(/(AccountKey|SharedAccessSignature|SharedAccessKey)=[^;\s]*/gi, '$1=***')
    .replace(/([?&](?:sig|se|sp|sv|st|srt|ss|skoid|sktid|skt|ske|sks|skv)=)[^&\s]*/gi, '$1***');
}

/** First line only: service messages append RequestId and Time lines. */
function firstLine(message: string): string {
  return (message.split(/\r?\n/)[0] ?? '').trim();
}
