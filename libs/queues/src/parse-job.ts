import { UnrecoverableError } from 'bullmq';
import { MAX_JOB_PAYLOAD_BYTES, retryDelay, stageSpecOf, type JobSpec, type StageRetrySpec } from './jobs';

/**
 * A payload that is not a job this service understands (malformed, oversized, another version): no retry can mend
 * it, and it says nothing about any backup, so it fails alone and never marks a backup failed.
 */
export class InvalidJobError extends UnrecoverableError {
  readonly code = 'invalid-job';
}

/** Validates a payload; a malformed job can never succeed, so it fails at once without retries. */
export function parseJob<T>(spec: JobSpec<T>, data: unknown): T {
  const what = `${spec.queue}/${spec.name} job`;
  const size = payloadSize(data);
  if (size > MAX_JOB_PAYLOAD_BYTES)
    throw new InvalidJobError(
      `invalid ${what}: payload is ${size} bytes, more than ${MAX_JOB_PAYLOAD_BYTES}`,
    );
  const version = (data as { v?: unknown } | null)?.v;
  if (typeof data === 'object' && data !== null && version !== 1)
    throw new InvalidJobError(
      `invalid ${what}: version ${version === undefined ? 'missing' : JSON.stringify(version)} is not supported (this service reads v1)`,
    );
  const result = spec.schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  throw new InvalidJobError(`invalid ${what}: ${path ? `${path}: ` : ''}${issue?.message ?? 'malformed'}`);
}

function payloadSize(data: unknown): number {
  try {
    // JSON.stringify gives undefined for undefined and functions (its typing says string).
    const json = JSON.stringify(data) as string | undefined;
    return json === undefined ? 0 : Buffer.byteLength(json);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** A failure that no retry can mend (bad config, tool too old, disk full): fails the job at once, keeping its code. */
export class PermanentJobError extends UnrecoverableError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Wraps an error as permanent, keeping its code and message. */
export function permanent(error: unknown, fallbackCode = 'internal'): PermanentJobError {
  if (error instanceof PermanentJobError) return error;
  const code =
    typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : fallbackCode;
  return new PermanentJobError(code, error instanceof Error ? error.message : String(error));
}

export interface FailedJob {
  attemptsMade: number;
  opts: { attempts?: number };
  /** Set for a job of a pipeline stage, whose retries {@link retryDelay} decides. */
  queueName?: string;
  name?: string;
}

/**
 * True when this failure is the job's last: no retry will follow. `attemptsMade` counts the attempt that just
 * failed, exactly as BullMQ passed it to the backoff strategy, so both always agree.
 */
export function isFinalFailure(job: FailedJob, error: Error): boolean {
  if (error instanceof UnrecoverableError || error.name === 'UnrecoverableError') return true;
  if (job.attemptsMade >= (job.opts.attempts ?? 1)) return true;
  const spec = job.queueName && job.name ? stageSpecOf(job.queueName, job.name) : undefined;
  return spec !== undefined && retryDelay(spec, job.attemptsMade, error) === -1;
}

/** Whether attempt `attempt` (1-based) of a stage job that failed with `error` is its last. */
export function isLastAttempt(spec: StageRetrySpec, attempt: number, error: unknown): boolean {
  return error instanceof UnrecoverableError || retryDelay(spec, attempt, error) === -1;
}

/** The backup a job was about, if this failure is its last; null while retries remain. */
export function finalFailureOf(
  job: (FailedJob & { data: unknown }) | undefined,
  error: Error,
): { targetId: string; backupId: string; attempts: number } | null {
  if (!job || !isFinalFailure(job, error)) return null;
  const data = job.data as { targetId?: unknown; backupId?: unknown };
  if (typeof data.targetId !== 'string' || typeof data.backupId !== 'string') return null;
  return { targetId: data.targetId, backupId: data.backupId, attempts: job.attemptsMade };
}
