import { UnrecoverableError } from 'bullmq';
import type { JobSpec } from './jobs';

/** Validates a payload; a malformed job can never succeed, so it fails at once without retries. */
export function parseJob<T>(spec: JobSpec<T>, data: unknown): T {
  const result = spec.schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new UnrecoverableError(
    `invalid ${spec.queue}/${spec.name} job: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
  );
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

/** True when this failure is the job's last: no retry will follow. */
export function isFinalFailure(
  job: { attemptsMade: number; opts: { attempts?: number } },
  error: Error,
): boolean {
  return (
    error instanceof UnrecoverableError ||
    error.name === 'UnrecoverableError' ||
    job.attemptsMade >= (job.opts.attempts ?? 1)
  );
}

/** The backup a job was about, if this failure is its last; null while retries remain. */
export function finalFailureOf(
  job: { attemptsMade: number; opts: { attempts?: number }; data: unknown } | undefined,
  error: Error,
): { targetId: string; backupId: string; attempts: number } | null {
  if (!job || !isFinalFailure(job, error)) return null;
  const data = job.data as { targetId?: unknown; backupId?: unknown };
  if (typeof data.targetId !== 'string' || typeof data.backupId !== 'string') return null;
  return { targetId: data.targetId, backupId: data.backupId, attempts: job.attemptsMade };
}
