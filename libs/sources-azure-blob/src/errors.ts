import { SourceError, type SourceErrorCode } from '@tidemark/source-contract';
import { redact } from '@tidemark/redaction';
import { errorReason, serviceFailure, toStorageError } from '@tidemark/azure-blob-sdk';

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

/**
 * Maps an SDK, network or credential error to a SourceError with one secret-free line, classified as libs/storage
 * classifies it. The SDK error is not kept as `cause`: it carries the request, SAS included, and loggers
 * serialise causes.
 */
export function toSourceError(err: unknown, context: CallContext): SourceError {
  if (err instanceof SourceError) return err;
  const mapped = toStorageError(err, { endpoint: context.host, action: context.action });
  const { status, serviceCode } = serviceFailure(err);
  const reason = errorReason(err, context.secrets);
  const where = `container "${context.container}" at ${context.host}`;
  const why = serviceCode ?? `HTTP ${String(status)}`;
  switch (mapped.code) {
    case 'unavailable':
      return new SourceError('source-unreachable', redact(mapped.message, context.secrets));
    case 'auth':
      return status === undefined
        ? new SourceError('source-auth', `no usable Azure credential for ${where}: ${reason}`)
        : new SourceError('source-auth', `access to ${where} denied (${why})`);
    case 'not-found':
      if (serviceCode === 'ContainerNotFound')
        return new SourceError('source-missing-database', `${where} does not exist`);
      break;
    default:
      break;
  }
  return status === undefined
    ? new SourceError(context.code, `${context.action} failed: ${reason}`)
    : new SourceError(context.code, `${context.action} failed (${why}): ${reason}`);
}
