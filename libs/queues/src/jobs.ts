import { environmentOf, type RawEnvironment } from '@tidemark/environment';
import { isNetworkErrorCode } from '@tidemark/storage';
import { BACKUP_ID_PATTERN, TARGET_ID_PATTERN, TRIGGERS } from '@tidemark/manifest';
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/**
 * The wire format of every command: queue names, job names, payload schemas, job ids and retry policy.
 * Payloads carry ids only (never secrets, never data); `v` lets a later version change a payload safely.
 */
export const QUEUE_PREFIX = 'tidemark';

export const QUEUE_NAMES = [
  'schedule',
  'dump',
  'upload',
  'verify',
  'retention',
  'notifier',
  'drill',
] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];
/** The queue names by name, for `@Processor(QUEUES.dump)` and `@InjectQueue(QUEUES.upload)`: a typo does not compile. */
export const QUEUES = {
  schedule: 'schedule',
  dump: 'dump',
  upload: 'upload',
  verify: 'verify',
  retention: 'retention',
  notifier: 'notifier',
  drill: 'drill',
} as const satisfies { readonly [N in QueueName]: N };

const targetId = z.string().regex(TARGET_ID_PATTERN);
const backupId = z.string().regex(BACKUP_ID_PATTERN);
const attempt = z.number().int().min(1).max(99);
/** A dump is split into at most this many parts (16 MiB each by default: 1.6 TB), which bounds commit payloads too. */
const partIndex = z.number().int().min(1).max(100_000);

/**
 * The largest payload any job may carry, in bytes of JSON. Payloads hold ids only, a few hundred bytes; anything
 * much bigger is not a Tidemark job. Strict objects refuse unknown keys, so nothing rides along unchecked.
 */
export const MAX_JOB_PAYLOAD_BYTES = 4096;

export const scheduleTickSchema = z.strictObject({ v: z.literal(1), targetId });
export const dumpJobSchema = z.strictObject({
  v: z.literal(1),
  backupId,
  targetId,
  trigger: z.enum(TRIGGERS),
  requestedAt: z.iso.datetime({ offset: true }),
});
/** `dumpAttempt` names the dump run that wrote the part, so a retried dump never mixes with an earlier one. */
export const uploadPartJobSchema = z.strictObject({
  v: z.literal(1),
  backupId,
  targetId,
  part: partIndex,
  dumpAttempt: attempt,
});
export const uploadCommitJobSchema = z.strictObject({
  v: z.literal(1),
  backupId,
  targetId,
  parts: partIndex,
  dumpAttempt: attempt,
});
export const verifyJobSchema = z.strictObject({
  v: z.literal(1),
  backupId,
  targetId,
  restoreTest: z.boolean(),
});
export const retentionJobSchema = z.strictObject({ v: z.literal(1), targetId: targetId.optional() });
/** A digest route's summary is due: `route` is its index in `notifications.routes`. */
export const notifierDigestJobSchema = z.strictObject({
  v: z.literal(1),
  route: z.number().int().min(0).max(999),
});

/**
 * A restore drill (libs/drills). `drillId` names its report; a scheduled drill's template carries none, and the
 * job's own id (unique per tick) names it. Without `backupId` the policy's `drills.pick` chooses.
 */
export const drillJobSchema = z.strictObject({
  v: z.literal(1),
  targetId,
  backupId: backupId.optional(),
  drillId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,79}$/)
    .optional(),
});

export type ScheduleTick = z.infer<typeof scheduleTickSchema>;
export type DumpJob = z.infer<typeof dumpJobSchema>;
export type UploadPartJob = z.infer<typeof uploadPartJobSchema>;
export type UploadCommitJob = z.infer<typeof uploadCommitJobSchema>;
export type VerifyJob = z.infer<typeof verifyJobSchema>;
export type RetentionJob = z.infer<typeof retentionJobSchema>;
export type NotifierDigestJob = z.infer<typeof notifierDigestJobSchema>;
export type DrillJob = z.infer<typeof drillJobSchema>;

export function partJobId(backupId: string, part: number): string {
  return `${backupId}-part-${part}`;
}

export interface JobSpec<T> {
  readonly queue: QueueName;
  readonly name: string;
  readonly schema: z.ZodType<T>;
  readonly jobId: (data: T) => string;
  readonly options: JobsOptions;
  /**
   * Pipeline stages retry by {@link retryDelay}: this many attempts for an ordinary failure, and for as long as the
   * retry budget lasts for an `unavailable` one. Without it BullMQ's plain exponential backoff applies.
   */
  readonly transientAttempts?: number;
  /**
   * Jobs with the same deduplication id coalesce: while one waits, another add is dropped into it; while one runs,
   * the last add is kept and queued once it finishes (BullMQ's `keepLastIfActive`). At most one runs and one waits.
   */
  readonly deduplicationId?: (data: T) => string;
}

/** Base retry delay; tests shorten it with TIDEMARK_RETRY_DELAY_MS so failure paths finish quickly. */
export function retryDelayMs(raw?: RawEnvironment): number {
  return environmentOf(raw).TIDEMARK_RETRY_DELAY_MS;
}

/**
 * How long a stage keeps retrying when Blob Storage, Redis or the network is away: delays double from the base
 * up to a cap, and the stage gives up once it has waited out the whole budget (15 minutes by default).
 */
export interface RetryPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly unavailableBudgetMs: number;
}

export function retryPolicy(raw?: RawEnvironment): RetryPolicy {
  const env = environmentOf(raw);
  const baseDelayMs = env.TIDEMARK_RETRY_DELAY_MS;
  return {
    baseDelayMs,
    maxDelayMs: env.TIDEMARK_RETRY_MAX_DELAY_MS ?? 16 * baseDelayMs,
    unavailableBudgetMs: env.TIDEMARK_UNAVAILABLE_RETRY_MS,
  };
}

/** The name of the custom backoff strategy of the pipeline stages (see {@link STAGE_WORKER_SETTINGS}). */
export const STAGE_BACKOFF = 'tidemark-stage';

/**
 * A transient outage of a service the pipeline depends on: a StorageError `unavailable` (how libs/storage maps
 * refused connections, timeouts, 5xx and 429), a network error, or Redis being away. Worth minutes of retries.
 */
export function isUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  // wal-missing: a physical backup's restore test waits for the archiver to ship its stop segment; a lagging
  // archiver is an outage to outlast, not a reason to fail a good backup after three quick attempts.
  if (code === 'unavailable' || code === 'wal-missing') return true;
  if (typeof code === 'string' && isNetworkErrorCode(code)) return true;
  if (name === 'MaxRetriesPerRequestError') return true;
  return typeof message === 'string' && /^(Connection is closed|Stream isn't writeable)/.test(message);
}

/** The delay before the retry that follows failed attempt `attempt` (1-based): doubling, capped. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.baseDelayMs * 2 ** Math.min(attempt - 1, 40), policy.maxDelayMs);
}

/**
 * The delay before the next attempt after `attemptsMade` attempts failed, the last with `error`; -1 gives up.
 * An `unavailable` failure is retried until the delays so far add up to the budget; any other transient failure
 * gets `transientAttempts` attempts in all. Permanent errors never get here (BullMQ fails them at once).
 */
export function retryDelay(
  spec: Pick<JobSpec<unknown>, 'transientAttempts'>,
  attemptsMade: number,
  error: unknown,
  policy: RetryPolicy = retryPolicy(),
): number {
  if (isUnavailable(error)) {
    let waited = 0;
    for (let attempt = 1; attempt < attemptsMade && waited < policy.unavailableBudgetMs; attempt += 1)
      waited += backoffDelay(policy, attempt);
    return waited >= policy.unavailableBudgetMs ? -1 : backoffDelay(policy, attemptsMade);
  }
  return attemptsMade >= (spec.transientAttempts ?? 1) ? -1 : backoffDelay(policy, attemptsMade);
}

/** BullMQ's hard cap on attempts of a stage job; the real limit is {@link retryDelay}'s. */
const STAGE_ATTEMPTS_CAP = 10_000;

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
    options: { attempts: STAGE_ATTEMPTS_CAP, ...keep },
    transientAttempts: 3,
  } satisfies JobSpec<DumpJob>,
  // Part jobs are removed when done so that a re-run dump can enqueue the same part id again.
  uploadPart: {
    queue: 'upload',
    name: 'part',
    schema: uploadPartJobSchema,
    jobId: (d: UploadPartJob) => partJobId(d.backupId, d.part),
    options: { attempts: STAGE_ATTEMPTS_CAP, removeOnComplete: true, removeOnFail: { age: 30 * 24 * 3600 } },
    transientAttempts: 8,
  } satisfies JobSpec<UploadPartJob>,
  uploadCommit: {
    queue: 'upload',
    name: 'commit',
    schema: uploadCommitJobSchema,
    jobId: (d: UploadCommitJob) => `${d.backupId}-commit`,
    options: { attempts: STAGE_ATTEMPTS_CAP, ...keep },
    transientAttempts: 8,
  } satisfies JobSpec<UploadCommitJob>,
  // Removed when done, so `tidemark verify` can ask again later; while one runs, a duplicate is ignored.
  verify: {
    queue: 'verify',
    name: 'verify',
    schema: verifyJobSchema,
    jobId: (d: VerifyJob) => `${d.backupId}-verify`,
    options: { attempts: STAGE_ATTEMPTS_CAP, removeOnComplete: true, removeOnFail: { age: 30 * 24 * 3600 } },
    transientAttempts: 3,
  } satisfies JobSpec<VerifyJob>,
  retention: {
    queue: 'retention',
    name: 'retention',
    schema: retentionJobSchema,
    jobId: (d: RetentionJob) => `retention-${d.targetId ?? 'all'}-${new Date().toISOString().slice(0, 10)}`,
    options: { attempts: 3, ...keep },
  } satisfies JobSpec<RetentionJob>,
  // Queued by every backup.verified: a burst for one target is one job, and a backup verified while that target's
  // job runs (which may have listed the catalog before it) gets one more run after it.
  retentionOnVerified: {
    queue: 'retention',
    name: 'retention',
    schema: retentionJobSchema,
    jobId: (d: RetentionJob) => `retention-verified-${d.targetId ?? 'all'}-${Date.now()}`,
    deduplicationId: (d: RetentionJob) => `retention-verified-${d.targetId ?? 'all'}`,
    options: { attempts: 3, ...keep },
  } satisfies JobSpec<RetentionJob>,
  // Added by the job scheduler `notifier:digest:<route>` (one per digest route) at the route's digest time.
  notifierDigest: {
    queue: 'notifier',
    name: 'digest',
    schema: notifierDigestJobSchema,
    jobId: (d: NotifierDigestJob) => `notifier-digest-${d.route}-${Date.now()}`,
    options: { attempts: 5, ...keep },
  } satisfies JobSpec<NotifierDigestJob>,
  // A drill is its own evidence: one that fails says so in its report and event rather than being retried.
  drill: {
    queue: 'drill',
    name: 'drill',
    schema: drillJobSchema,
    jobId: (d: DrillJob) => d.drillId ?? `drill-${d.targetId}-${Date.now()}`,
    options: { attempts: 1, ...keep },
  } satisfies JobSpec<DrillJob>,
} as const;

/** What the retry rules need to know of a stage's job. */
export type StageRetrySpec = Pick<JobSpec<unknown>, 'queue' | 'name' | 'transientAttempts'>;

const STAGE_SPECS: readonly StageRetrySpec[] = [JOBS.dump, JOBS.uploadPart, JOBS.uploadCommit, JOBS.verify];

/** The spec of a job by its queue and name, if it is a pipeline stage's. */
export function stageSpecOf(queueName: string, jobName: string): StageRetrySpec | undefined {
  return STAGE_SPECS.find((spec) => spec.queue === queueName && spec.name === jobName);
}

/**
 * Worker settings every stage processor must use: BullMQ calls this strategy for jobs whose backoff type is
 * {@link STAGE_BACKOFF}, passing the error, so the delay (or giving up) depends on what failed.
 */
export const STAGE_WORKER_SETTINGS = {
  backoffStrategy: (
    attemptsMade: number,
    _type: string | undefined,
    error: Error | undefined,
    job: { queueName: string; name: string } | undefined,
  ): number => retryDelay((job && stageSpecOf(job.queueName, job.name)) ?? {}, attemptsMade, error),
};

/** Job options with the backoff applied: the stages' own strategy, else exponential from the base delay. */
export function jobOptions<T>(spec: JobSpec<T>, data: T, env?: RawEnvironment): JobsOptions {
  return {
    ...spec.options,
    jobId: spec.jobId(data),
    ...(spec.deduplicationId && {
      deduplication: { id: spec.deduplicationId(data), keepLastIfActive: true },
    }),
    backoff:
      spec.transientAttempts === undefined
        ? { type: 'exponential', delay: retryDelayMs(env) }
        : { type: STAGE_BACKOFF, delay: retryDelayMs(env) },
  };
}
