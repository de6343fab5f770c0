import { TRIGGERS } from '@tidemark/manifest';
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/**
 * The wire format of every command: queue names, job names, payload schemas, job ids and retry policy.
 * Payloads carry ids only (never secrets, never data); `v` lets a later version change a payload safely.
 */
export const QUEUE_PREFIX = 'tidemark';

export const QUEUE_NAMES = ['schedule', 'dump', 'upload', 'verify', 'retention'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

const targetId = z.string().regex(/^[a-z0-9-]{1,63}$/);
const backupId = z.string().regex(/^\d{8}T\d{6}Z-[0-9a-z]{6}$/);
const attempt = z.number().int().min(1).max(99);

export const scheduleTickSchema = z.object({ v: z.literal(1), targetId });
export const dumpJobSchema = z.object({
  v: z.literal(1),
  backupId,
  targetId,
  trigger: z.enum(TRIGGERS),
  requestedAt: z.iso.datetime({ offset: true }),
});
/** `dumpAttempt` names the dump run that wrote the part, so a retried dump never mixes with an earlier one. */
export const uploadPartJobSchema = z.object({
  v: z.literal(1),
  backupId,
  targetId,
  part: z.number().int().min(1),
  dumpAttempt: attempt,
});
export const uploadCommitJobSchema = z.object({
  v: z.literal(1),
  backupId,
  targetId,
  parts: z.number().int().min(1),
  dumpAttempt: attempt,
});
export const verifyJobSchema = z.object({ v: z.literal(1), backupId, targetId, restoreTest: z.boolean() });
export const retentionJobSchema = z.object({ v: z.literal(1), targetId: targetId.optional() });

export type ScheduleTick = z.infer<typeof scheduleTickSchema>;
export type DumpJob = z.infer<typeof dumpJobSchema>;
export type UploadPartJob = z.infer<typeof uploadPartJobSchema>;
export type UploadCommitJob = z.infer<typeof uploadCommitJobSchema>;
export type VerifyJob = z.infer<typeof verifyJobSchema>;
export type RetentionJob = z.infer<typeof retentionJobSchema>;

export function partJobId(backupId: string, part: number): string {
  return `${backupId}-part-${part}`;
}

export interface JobSpec<T> {
  readonly queue: QueueName;
  readonly name: string;
  readonly schema: z.ZodType<T>;
  readonly jobId: (data: T) => string;
  readonly options: JobsOptions;
}

/** Base retry delay; tests shorten it with TIDEMARK_RETRY_DELAY_MS so failure paths finish quickly. */
export function retryDelayMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env['TIDEMARK_RETRY_DELAY_MS']);
  return Number.isFinite(value) && value > 0 ? value : 5000;
}

const keep = { removeOnComplete: { age: 7 * 24 * 3600, count: 5000 }, removeOnFail: { age: 30 * 24 * 3600 } };

export const JOBS = {
  tick: {
    queue: 'schedule',
    name: 'tick',
    schema: scheduleTickSchema,
    jobId: (d: ScheduleTick) => `tick-${d.targetId}-${Date.now()}`,
    options: { attempts: 3, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
  } satisfies JobSpec<ScheduleTick>,
  dump: {
    queue: 'dump',
    name: 'dump',
    schema: dumpJobSchema,
    jobId: (d: DumpJob) => d.backupId,
    options: { attempts: 3, ...keep },
  } satisfies JobSpec<DumpJob>,
  // Part jobs are removed when done so that a re-run dump can enqueue the same part id again.
  uploadPart: {
    queue: 'upload',
    name: 'part',
    schema: uploadPartJobSchema,
    jobId: (d: UploadPartJob) => partJobId(d.backupId, d.part),
    options: { attempts: 8, removeOnComplete: true, removeOnFail: { age: 30 * 24 * 3600 } },
  } satisfies JobSpec<UploadPartJob>,
  uploadCommit: {
    queue: 'upload',
    name: 'commit',
    schema: uploadCommitJobSchema,
    jobId: (d: UploadCommitJob) => `${d.backupId}-commit`,
    options: { attempts: 8, ...keep },
  } satisfies JobSpec<UploadCommitJob>,
  // Removed when done, so `tidemark verify` can ask again later; while one runs, a duplicate is ignored.
  verify: {
    queue: 'verify',
    name: 'verify',
    schema: verifyJobSchema,
    jobId: (d: VerifyJob) => `${d.backupId}-verify`,
    options: { attempts: 3, removeOnComplete: true, removeOnFail: { age: 30 * 24 * 3600 } },
  } satisfies JobSpec<VerifyJob>,
  retention: {
    queue: 'retention',
    name: 'retention',
    schema: retentionJobSchema,
    jobId: (d: RetentionJob) => `retention-${d.targetId ?? 'all'}-${new Date().toISOString().slice(0, 10)}`,
    options: { attempts: 3, ...keep },
  } satisfies JobSpec<RetentionJob>,
} as const;

/** Job options with the exponential backoff applied (the delay is read at enqueue time). */
export function jobOptions<T>(spec: JobSpec<T>, data: T, env: NodeJS.ProcessEnv = process.env): JobsOptions {
  return {
    ...spec.options,
    jobId: spec.jobId(data),
    backoff: { type: 'exponential', delay: retryDelayMs(env) },
  };
}
