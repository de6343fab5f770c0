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

/** True when this failure is the job's last: no retry will follow. */
export function isFinalFailure(job: { attemptsMade: number; opts: { attempts?: number } }, error: Error): boolean {
  return error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
}
