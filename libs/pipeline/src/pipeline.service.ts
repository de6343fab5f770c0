import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Catalog } from '@tidemark/catalog';
import { EventPublisher, errorData } from '@tidemark/events';
import {
  isFinal,
  markFailed,
  newBackupId,
  type Failure,
  type Manifest,
  type Stage,
  type Trigger,
} from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import {
  jobOptions,
  JOBS,
  QUEUES,
  type DumpJob,
  type JobSpec,
  type UploadCommitJob,
  type UploadPartJob,
  type VerifyJob,
} from '@tidemark/queues';
import { LOCAL_TIER, LocalTier } from '@tidemark/storage';
import type { Queue } from 'bullmq';
import { PendingFailures, type PendingFailure } from './pending-failures';
import { TargetLock } from './target-lock';

export interface TriggerResult {
  backupId: string;
  targetId: string;
  /** True when a dump of this target was already running and this trigger joined it. */
  coalesced: boolean;
}

/**
 * The pipeline's next-step rules, in one place: what is enqueued after each stage, and what a final failure does.
 * Workers call these; no worker enqueues anything by itself.
 */
@Injectable()
export class Pipeline {
  private readonly logger = new Logger(Pipeline.name);

  constructor(
    @InjectQueue(QUEUES.dump) private readonly dumpQueue: Queue,
    @InjectQueue(QUEUES.upload) private readonly uploadQueue: Queue,
    @InjectQueue(QUEUES.verify) private readonly verifyQueue: Queue,
    private readonly lock: TargetLock,
    private readonly events: EventPublisher,
    private readonly catalog: Catalog,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
    private readonly metrics: TidemarkMetrics,
    private readonly pendingFailures: PendingFailures,
  ) {}

  /** A trigger (schedule tick, CLI, REST): starts a backup unless one of this target is dumping already. */
  async request(targetId: string, trigger: Trigger, now = new Date()): Promise<TriggerResult> {
    const backupId = newBackupId(now);
    const holder = await this.lock.acquire(targetId, backupId);
    if (holder !== backupId) {
      this.logger.log({ targetId, backupId: holder, trigger }, 'backup already running: trigger coalesced');
      return { backupId: holder, targetId, coalesced: true };
    }
    const job: DumpJob = { v: 1, backupId, targetId, trigger, requestedAt: now.toISOString() };
    try {
      await this.add(this.dumpQueue, JOBS.dump, job);
    } catch (error) {
      await this.lock.release(targetId, backupId);
      throw error;
    }
    await this.events.emit('tidemark.backup.requested', targetId, backupId, { stage: 'dump', trigger });
    return { backupId, targetId, coalesced: false };
  }

  /** A part file is closed: upload it now, while the dump goes on. */
  async partClosed(job: Omit<UploadPartJob, 'v'>): Promise<void> {
    await this.add(this.uploadQueue, JOBS.uploadPart, { v: 1, ...job });
  }

  /** The dump is complete on the local tier: commit the blob once every part is staged. */
  async dumped(manifest: Manifest, dumpAttempt: number, durationMs: number): Promise<void> {
    const job: UploadCommitJob = {
      v: 1,
      backupId: manifest.backupId,
      targetId: manifest.target.id,
      parts: manifest.artifact.parts.length,
      dumpAttempt,
    };
    await this.add(this.uploadQueue, JOBS.uploadCommit, job);
    await this.lock.release(manifest.target.id, manifest.backupId);
    await this.events.emit('tidemark.backup.dumped', manifest.target.id, manifest.backupId, {
      stage: 'dump',
      sizes: { raw: manifest.artifact.rawSize ?? 0, compressed: manifest.artifact.size ?? 0 },
      durations: { dump: durationMs },
      parts: manifest.artifact.parts.length,
      tables: manifest.content.tables.length,
      ...(manifest.content.files ? { files: manifest.content.files.length } : {}),
      ...(manifest.chain ? { chain: manifest.chain } : {}),
      // Lets a waiter on a server run learn every member from the first that is dumped.
      ...(manifest.run ? { run: manifest.run, database: manifest.target.database } : {}),
    });
  }

  /** The blob and its manifest are committed: prove it restorable. */
  async uploaded(manifest: Manifest, restoreTest: boolean, durationMs: number): Promise<void> {
    const job: VerifyJob = { v: 1, backupId: manifest.backupId, targetId: manifest.target.id, restoreTest };
    await this.add(this.verifyQueue, JOBS.verify, job);
    await this.events.emit('tidemark.backup.uploaded', manifest.target.id, manifest.backupId, {
      stage: 'upload',
      sizes: { compressed: manifest.artifact.size ?? 0 },
      durations: { upload: durationMs },
      blobName: manifest.locations.remote?.blobName,
      tier: manifest.locations.remote?.tier,
    });
  }

  /** `tidemark verify`: check a stored backup again. */
  async reverify(targetId: string, backupId: string, restoreTest: boolean): Promise<void> {
    await this.add(this.verifyQueue, JOBS.verify, { v: 1, backupId, targetId, restoreTest });
  }

  /** The reconciler's resumption of a dumped backup whose commit job was lost: the uploader takes it from there. */
  async resumeUpload(manifest: Manifest): Promise<void> {
    await this.add(this.uploadQueue, JOBS.uploadCommit, {
      v: 1,
      backupId: manifest.backupId,
      targetId: manifest.target.id,
      parts: Math.max(1, manifest.artifact.parts.length),
      dumpAttempt: manifest.artifact.dumpAttempt,
    });
  }

  /**
   * A job failed for the last time: the backup is marked failed where its manifest lives, the dump lock is
   * freed, and one `backup.failed` event says which stage, after how many attempts, and why (no secret).
   * Local parts are kept after an upload failure so nothing is lost; a failed dump's partial parts are removed.
   * When the manifest cannot be written (Blob Storage away), the failure is parked for the reconciler and no event
   * is published yet: the event is published once the catalog says the same.
   */
  async failed(
    stage: Stage,
    ids: { targetId: string; backupId: string },
    error: unknown,
    attempts: number,
  ): Promise<'recorded' | 'pending'> {
    const failure: Failure = { stage, ...errorData(error), attempts, at: new Date().toISOString() };
    if (stage === 'dump') await this.lock.release(ids.targetId, ids.backupId);
    let local: Manifest | null = null;
    try {
      local = await this.local.readManifest(ids.targetId, ids.backupId);
      await this.recordFailure(ids, failure, local);
    } catch (recordError) {
      const manifest = local && local.status !== 'failed' ? catalogEntryOfFailed(local, failure) : null;
      await this.pendingFailures.park({ ...ids, failure, manifest });
      this.logger.warn(
        { ...ids, stage, code: failure.code, err: errorData(recordError) },
        'could not record the failure in the manifest: parked for the reconciler, backup.failed waits for it',
      );
      return 'pending';
    }
    await this.publishFailed(ids, failure);
    return 'recorded';
  }

  /**
   * The reconciler's half of {@link failed}: records a parked failure and, if this caller is the one that takes
   * it off the list, publishes its `backup.failed`. Throws (leaving it parked) while the manifest is unwritable.
   */
  async settleParked(pending: PendingFailure): Promise<void> {
    const local = await this.local.readManifest(pending.targetId, pending.backupId);
    await this.recordFailure(pending, pending.failure, local, pending.manifest);
    if (await this.pendingFailures.claim(pending)) await this.publishFailed(pending, pending.failure);
  }

  /** Fails a backup that nothing will finish (the reconciler's verdict), as a stage's final failure would. */
  async abandon(manifest: Manifest, code: string, message: string): Promise<void> {
    const stage: Stage =
      manifest.status === 'uploaded' ? 'verify' : manifest.status === 'dumped' ? 'upload' : 'dump';
    const ids = { targetId: manifest.target.id, backupId: manifest.backupId };
    await this.failed(stage, ids, Object.assign(new Error(message), { code }), 0);
  }

  private async publishFailed(ids: { targetId: string; backupId: string }, failure: Failure): Promise<void> {
    this.metrics.backupsTotal.inc({ target: ids.targetId, stage: failure.stage, result: 'failed' });
    await this.events.emit('tidemark.backup.failed', ids.targetId, ids.backupId, {
      stage: failure.stage,
      attempts: failure.attempts ?? 0,
      error: { code: failure.code, message: failure.message },
    });
  }

  private async recordFailure(
    ids: { targetId: string; backupId: string },
    failure: Failure,
    local: Manifest | null,
    fallback: Manifest | null = null,
  ): Promise<void> {
    if (local && local.status !== 'failed') {
      const failedLocal = markFailed(local, failure);
      if (failure.stage === 'dump') {
        // Partial parts of a failed dump are worthless: keep only the manifest that says why.
        await this.local.removeBackup(ids.targetId, ids.backupId);
        await this.local.ensureBackupDir(ids.targetId, ids.backupId);
        await this.local.writeManifest({ ...failedLocal, artifact: { ...failedLocal.artifact, parts: [] } });
      } else {
        await this.local.writeManifest(failedLocal);
      }
    }
    const remote = await this.catalog.find(ids.backupId, ids.targetId);
    if (remote) {
      if (isFinal(remote.manifest.status)) return;
      await this.catalog.save(markFailed(remote.manifest, failure), remote.etag);
      return;
    }
    // The catalog (Blob Storage) must know about the failure even though no artifact reached it.
    const entry = local && local.status !== 'failed' ? catalogEntryOfFailed(local, failure) : fallback;
    if (entry) await this.catalog.save(entry, null);
  }

  private async add<T>(queue: Queue, spec: JobSpec<T>, data: T): Promise<void> {
    await queue.add(spec.name, data, jobOptions(spec, data));
  }
}

/** The manifest the catalog holds for a backup that failed before its artifact reached Blob Storage. */
function catalogEntryOfFailed(local: Manifest, failure: Failure): Manifest {
  const failed = markFailed(local, failure);
  // A directory's file list can be long, and of a failed dump it says nothing anyway.
  const { files: _files, ...content } = failed.content;
  return {
    ...failed,
    content,
    artifact: { ...failed.artifact, parts: [] },
    locations: { ...failed.locations, remote: null },
  };
}
