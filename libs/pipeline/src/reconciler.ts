import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Catalog } from '@tidemark/catalog';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { environmentOf, type RawEnvironment } from '@tidemark/environment';
import { errorData, redisKey } from '@tidemark/events';
import type { Manifest } from '@tidemark/manifest';
import { policyOf, targetById } from '@tidemark/policy';
import {
  JOB_QUEUES,
  JOBS,
  LIVE_JOB_STATES,
  REDIS,
  RedisLock,
  type JobQueues,
  type Lock,
} from '@tidemark/queues';
import { BLOB_STORE, type BlobStore } from '@tidemark/storage';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { PendingFailures, type PendingFailureStore } from './pending-failures';
import { PipelineModule } from './pipeline.module';
import { Pipeline } from './pipeline.service';
import { TargetLock } from './target-lock';

/** A stuck backup is resumed at most this many times; after that it is failed, so nothing loops for ever. */
export const MAX_RESUMES = 3;

export interface ReconcilerSettings {
  intervalMs: number;
  /** A backup in a non-final state for longer than this, with no live job, is resumed or failed. */
  stuckAfterMs: number;
}

export function reconcilerSettings(env?: RawEnvironment): ReconcilerSettings {
  const parsed = environmentOf(env);
  return {
    intervalMs: parsed.TIDEMARK_RECONCILE_INTERVAL_MS,
    stuckAfterMs: parsed.TIDEMARK_RECONCILE_STUCK_AFTER_MS,
  };
}

/** When a manifest last moved: the timestamp of the status it is in. */
function since(manifest: Manifest): number {
  const t = manifest.timestamps;
  const at =
    manifest.status === 'uploaded'
      ? t.uploadedAt
      : manifest.status === 'dumped'
        ? t.dumpedAt
        : (t.dumpStartedAt ?? t.requestedAt);
  return Date.parse(at ?? t.requestedAt);
}

/**
 * Nothing half-done stays half-done: periodically, under a Redis lease so one replica at a time does it, records
 * the failures that could not be written when they happened (then publishes their `backup.failed`), and finds
 * backups stuck in `dumping`/`dumped`/`uploaded` past a bound. A stuck backup whose next job is live is left
 * alone; one that can go on is resumed (its next job enqueued again under its idempotent job id); any other is
 * failed, in the manifest and with one event. Every decision is logged with its reason.
 */
@Injectable()
export class Reconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(Reconciler.name);
  private readonly lease: RedisLock;
  private readonly owner = randomUUID();
  private readonly settings = reconcilerSettings();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(JOB_QUEUES) private readonly queues: JobQueues,
    private readonly catalog: Catalog,
    private readonly pipeline: Pipeline,
    @Inject(PendingFailures) private readonly pendingFailures: PendingFailureStore,
    @Inject(TargetLock) private readonly dumpLock: Lock,
  ) {
    this.lease = new RedisLock(redis, 'reconcile', Math.max(3 * this.settings.intervalMs, 30_000));
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running ??= this.pass().finally(() => {
        this.running = undefined;
      });
    }, this.settings.intervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.lease.release('all', this.owner).catch(() => undefined);
  }

  /** One pass; never throws (an unreachable Redis or Blob Storage just waits for the next pass). */
  async pass(now = Date.now()): Promise<void> {
    try {
      if ((await this.lease.acquire('all', this.owner)) !== this.owner) return;
      await this.settleParkedFailures();
      await this.reconcileStuck(now);
    } catch (error) {
      this.logger.warn({ err: errorData(error) }, 'reconciliation pass did not complete; next pass retries');
    }
  }

  private async settleParkedFailures(): Promise<void> {
    const { pending, unreadable } = await this.pendingFailures.all();
    for (const entry of unreadable) this.logger.error(entry, 'unreadable parked failure left in place');
    for (const failure of pending) {
      const ids = { targetId: failure.targetId, backupId: failure.backupId };
      try {
        await this.pipeline.settleParked(failure);
        this.logger.log(
          { ...ids, stage: failure.failure.stage, code: failure.failure.code },
          'recorded a failure that could not be written when it happened; backup.failed published',
        );
      } catch (error) {
        this.logger.warn({ ...ids, err: errorData(error) }, 'parked failure still cannot be recorded');
      }
    }
  }

  private async reconcileStuck(now: number): Promise<void> {
    const { manifests } = await this.catalog.list();
    for (const manifest of manifests) {
      if (manifest.deletion) continue;
      if (!['dumping', 'dumped', 'uploaded'].includes(manifest.status)) continue;
      if (now - since(manifest) < this.settings.stuckAfterMs) continue;
      const ids = { targetId: manifest.target.id, backupId: manifest.backupId };
      if (await this.pendingFailures.has(ids.targetId, ids.backupId)) continue;
      try {
        // The listing may be a while old: act only on what the manifest says now.
        const current = await this.catalog.find(ids.backupId, ids.targetId);
        if (current?.manifest.status !== manifest.status) continue;
        const verdict = await this.decide(current.manifest);
        this.logger.log({ ...ids, status: manifest.status, ...verdict }, `stuck backup: ${verdict.action}`);
      } catch (error) {
        this.logger.warn({ ...ids, err: errorData(error) }, 'could not reconcile a stuck backup');
      }
    }
  }

  private async decide(manifest: Manifest): Promise<{ action: string; reason: string }> {
    const { status } = manifest;
    const queue =
      status === 'uploaded'
        ? JOBS.verify.queue
        : status === 'dumped'
          ? JOBS.uploadCommit.queue
          : JOBS.dump.queue;
    const ids = { v: 1 as const, backupId: manifest.backupId, targetId: manifest.target.id };
    const jobId =
      status === 'uploaded'
        ? JOBS.verify.jobId({ ...ids, restoreTest: false })
        : status === 'dumped'
          ? JOBS.uploadCommit.jobId({ ...ids, parts: 1, dumpAttempt: 1 })
          : manifest.backupId;
    const state = await this.queues.state(queue, jobId);
    if (LIVE_JOB_STATES.has(state)) return { action: 'left alone', reason: `job ${jobId} is ${state}` };
    if (status === 'dumping') {
      const holder = await this.dumpLock.holder(manifest.target.id);
      if (holder === manifest.backupId || (holder !== null && holder === manifest.run?.id))
        return { action: 'left alone', reason: 'its dump holds the target lock' };
      return this.fail(manifest, `the dump stopped (job ${state}) and no dumper holds the target`);
    }
    if (status === 'uploaded') {
      const blobName = manifest.locations.remote?.blobName;
      if (!blobName || !(await this.store.properties(blobName)))
        return this.fail(manifest, 'the manifest says uploaded but its blob is not in Blob Storage');
    }
    const resumes = await this.redis.incr(redisKey(`reconcile:resumes:${manifest.backupId}`));
    await this.redis.expire(redisKey(`reconcile:resumes:${manifest.backupId}`), 30 * 24 * 3600);
    if (resumes > MAX_RESUMES)
      return this.fail(manifest, `resumed ${MAX_RESUMES} times already and still not finished`);
    // A finished job keeps its id (and would swallow the new one): remove it first.
    await this.queues.remove(queue, jobId);
    if (status === 'uploaded') {
      await this.pipeline.reverify(manifest.target.id, manifest.backupId, this.restoreTest(manifest));
      return {
        action: 'verify enqueued again',
        reason: `no live verify job (${state}); its blob is committed`,
      };
    }
    await this.pipeline.resumeUpload(manifest);
    return { action: 'commit enqueued again', reason: `no live commit job (${state})` };
  }

  private async fail(manifest: Manifest, reason: string): Promise<{ action: string; reason: string }> {
    await this.pipeline.abandon(
      manifest,
      'stuck',
      `backup ${manifest.backupId} was stuck ${manifest.status}: ${reason}`,
    );
    return { action: 'failed', reason };
  }

  private restoreTest(manifest: Manifest): boolean {
    try {
      return policyOf(this.config, targetById(this.config, manifest.target.id)).verify.restoreTest;
    } catch {
      return false;
    }
  }
}

/** The reconciler runs in one service (the scheduler); any number of replicas, one pass at a time. */
@Module({ imports: [PipelineModule], providers: [Reconciler], exports: [Reconciler] })
export class ReconcilerModule {}
