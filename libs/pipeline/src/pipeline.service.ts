import { Inject, Injectable, Logger } from '@nestjs/common';
import { ManifestStore } from '@tidemark/catalog';
import { EventPublisher, errorData } from '@tidemark/events';
import {
  isFinal,
  markFailed,
  newBackupId,
  verificationPassed,
  type Failure,
  type Manifest,
  type Stage,
  type Trigger,
  type Verification,
} from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import {
  JOB_QUEUES,
  JOBS,
  type DumpJob,
  type JobQueues,
  type Lock,
  type UploadCommitJob,
  type UploadPartJob,
  type VerifyJob,
} from '@tidemark/queues';
import { LOCAL_TIER, LocalTier } from '@tidemark/storage';
import { PendingFailures, type PendingFailure, type PendingFailureStore } from './pending-failures';
import { TargetLock } from './target-lock';

/** How often a running dump renews its hold on the target (the lock's TTL is 15 minutes). */
const LOCK_RENEW_MS = 60_000;

export interface TriggerResult {
  backupId: string;
  targetId: string;
  /** True when a dump of this target was already running and this trigger joined it. */
  coalesced: boolean;
}

/** What a verification found, for its fact (event and metrics). */
export interface VerificationReport {
  verification: Verification;
  durationMs: number;
  /** Bytes of the blob read back. */
  bytes: number;
  /** One line per failed check, empty when the backup passed. */
  failedChecks: string[];
}

/**
 * The pipeline's next-step rules and facts, in one place: what is enqueued after each stage, every `backup.*`
 * event and stage metric, what a final failure does, and the life of the per-target dump lock (taken at the
 * trigger, held while the dump runs, released when it ends or fails). Workers call these; no worker enqueues,
 * publishes a backup fact or touches the lock by itself.
 */
@Injectable()
export class Pipeline {
  private readonly logger = new Logger(Pipeline.name);

  constructor(
    @Inject(JOB_QUEUES) private readonly queues: JobQueues,
    @Inject(TargetLock) private readonly lock: Lock,
    private readonly events: EventPublisher,
    private readonly manifests: ManifestStore,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
    private readonly metrics: TidemarkMetrics,
    @Inject(PendingFailures) private readonly pendingFailures: PendingFailureStore,
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
      await this.queues.add(JOBS.dump, job);
    } catch (error) {
      await this.lock.release(targetId, backupId);
      throw error;
    }
    await this.events.emit('tidemark.backup.requested', targetId, backupId, { stage: 'dump', trigger });
    return { backupId, targetId, coalesced: false };
  }

  /**
   * A dump job starts: takes the target for `backupId` (a run's id for a server run) unless another backup holds
   * it; returns the holder. The trigger took it already; a retry after the TTL ran out takes it again.
   */
  async claimTarget(targetId: string, backupId: string): Promise<string> {
    return this.lock.acquire(targetId, backupId);
  }

  /** Keeps the target held while a dump runs (a dump may outlast the lock's TTL); call the result to stop. */
  holdTarget(targetId: string, holder: string): () => void {
    const renew = setInterval(() => {
      this.lock.extend(targetId, holder).catch((error: unknown) => {
        this.logger.warn({ targetId, holder, err: String(error) }, 'could not extend the dump lock');
      });
    }, LOCK_RENEW_MS);
    return () => {
      clearInterval(renew);
    };
  }

  /** A server run's members are all dumped (or failed): the target is free for the next backup. */
  async runDumped(targetId: string, runId: string): Promise<void> {
    await this.lock.release(targetId, runId);
  }

  /** A part file is closed: upload it now, while the dump goes on. */
  async partClosed(job: Omit<UploadPartJob, 'v'>): Promise<void> {
    await this.queues.add(JOBS.uploadPart, { v: 1, ...job });
  }

  /** The local tier has no room for a dump: one warning fact, before the dump fails for good. */
  async lowDisk(
    ids: { targetId: string; backupId: string },
    sizes: { free: number; needed: number; reserve: number },
    path: string,
  ): Promise<void> {
    await this.events.emit(
      'tidemark.storage.low_disk',
      ids.targetId,
      ids.backupId,
      { stage: 'dump', sizes, path },
      'warning',
    );
  }

  /**
   * The dump is complete on the local tier: commit the blob once every part is staged. `durationMs` is null when
   * a retried job found the dump done already (nothing new to measure).
   */
  async dumped(manifest: Manifest, dumpAttempt: number, durationMs: number | null): Promise<void> {
    const job: UploadCommitJob = {
      v: 1,
      backupId: manifest.backupId,
      targetId: manifest.target.id,
      parts: manifest.artifact.parts.length,
      dumpAttempt,
    };
    if (durationMs !== null) {
      const target = manifest.target.id;
      this.metrics.backupDuration.observe({ target, stage: 'dump' }, durationMs / 1000);
      this.metrics.backupSize.set({ target }, manifest.artifact.size ?? 0);
      this.metrics.backupsTotal.inc({ target, stage: 'dump', result: 'success' });
    }
    await this.queues.add(JOBS.uploadCommit, job);
    await this.lock.release(manifest.target.id, manifest.backupId);
    await this.events.emit('tidemark.backup.dumped', manifest.target.id, manifest.backupId, {
      stage: 'dump',
      sizes: { raw: manifest.artifact.rawSize ?? 0, compressed: manifest.artifact.size ?? 0 },
      durations: { dump: durationMs ?? 0 },
      parts: manifest.artifact.parts.length,
      tables: manifest.content.tables.length,
      ...(manifest.content.files ? { files: manifest.content.files.length } : {}),
      ...(manifest.chain ? { chain: manifest.chain } : {}),
      // Lets a waiter on a server run learn every member from the first that is dumped.
      ...(manifest.run ? { run: manifest.run, database: manifest.target.database } : {}),
    });
  }

  /**
   * The blob and its manifest are committed: prove it restorable. `durationMs` is null when a retried job found
   * the commit done already.
   */
  async uploaded(manifest: Manifest, restoreTest: boolean, durationMs: number | null): Promise<void> {
    const job: VerifyJob = { v: 1, backupId: manifest.backupId, targetId: manifest.target.id, restoreTest };
    if (durationMs !== null) {
      const target = manifest.target.id;
      this.metrics.backupDuration.observe({ target, stage: 'upload' }, durationMs / 1000);
      this.metrics.backupsTotal.inc({ target, stage: 'upload', result: 'success' });
    }
    await this.queues.add(JOBS.verify, job);
    await this.events.emit('tidemark.backup.uploaded', manifest.target.id, manifest.backupId, {
      stage: 'upload',
      sizes: { compressed: manifest.artifact.size ?? 0 },
      durations: { upload: durationMs ?? 0 },
      blobName: manifest.locations.remote?.blobName,
      tier: manifest.locations.remote?.tier,
    });
  }

  /**
   * A verification is recorded in the manifest: `backup.verified`, or `backup.corrupt` naming the failed checks,
   * and the verify metrics.
   */
  async verified(manifest: Manifest, report: VerificationReport): Promise<void> {
    const { verification, durationMs } = report;
    const ok = verificationPassed(verification);
    const ids = { targetId: manifest.target.id, backupId: manifest.backupId };
    this.metrics.backupDuration.observe({ target: ids.targetId, stage: 'verify' }, durationMs / 1000);
    this.metrics.backupsTotal.inc({
      target: ids.targetId,
      stage: 'verify',
      result: ok ? 'success' : 'corrupt',
    });
    const restoreTest = verification.restoreTest;
    const data = {
      stage: 'verify' as const,
      sizes: { compressed: report.bytes },
      durations: { verify: durationMs, ...(restoreTest ? { restoreTest: restoreTest.durationMs } : {}) },
      checks: {
        checksum: verification.checksum.ok,
        // No structural check ran (old manifests): it did not fail, as verificationPassed counts it.
        structure: verification.structure?.ok ?? true,
        restoreTest: restoreTest?.ok ?? null,
      },
    };
    if (ok) {
      this.logger.log({ ...ids, durationMs }, 'backup verified');
      await this.events.emit('tidemark.backup.verified', ids.targetId, ids.backupId, data);
      return;
    }
    this.logger.error({ ...ids, failedChecks: report.failedChecks }, 'backup is corrupt');
    await this.events.emit('tidemark.backup.corrupt', ids.targetId, ids.backupId, {
      ...data,
      error: { code: 'corrupt', message: report.failedChecks.join('; ').slice(0, 1000) },
    });
  }

  /**
   * A verification that checked the blob's sha256 but could not read its content for want of the right age
   * identity: the backup stays `uploaded` (nothing says it is damaged), and `backup.unverifiable` says why.
   */
  async unverifiable(
    manifest: Manifest,
    report: { code: string; message: string; checksumOk: boolean; bytes: number; durationMs: number },
  ): Promise<void> {
    const ids = { targetId: manifest.target.id, backupId: manifest.backupId };
    this.metrics.backupsTotal.inc({ target: ids.targetId, stage: 'verify', result: 'unverifiable' });
    this.logger.error({ ...ids, code: report.code }, `backup cannot be verified: ${report.message}`);
    await this.events.emit('tidemark.backup.unverifiable', ids.targetId, ids.backupId, {
      stage: 'verify',
      sizes: { compressed: report.bytes },
      durations: { verify: report.durationMs },
      checks: { checksum: report.checksumOk },
      error: { code: report.code, message: report.message },
    });
  }

  /** `tidemark verify`: check a stored backup again. */
  async reverify(targetId: string, backupId: string, restoreTest: boolean): Promise<void> {
    await this.queues.add(JOBS.verify, { v: 1, backupId, targetId, restoreTest });
  }

  /** The reconciler's resumption of a dumped backup whose commit job was lost: the uploader takes it from there. */
  async resumeUpload(manifest: Manifest): Promise<void> {
    await this.queues.add(JOBS.uploadCommit, {
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
      local = await this.manifests.readLocal(ids.targetId, ids.backupId);
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
    const local = await this.manifests.readLocal(pending.targetId, pending.backupId);
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
      }
      const kept =
        failure.stage === 'dump'
          ? { ...failedLocal, artifact: { ...failedLocal.artifact, parts: [] } }
          : failedLocal;
      await this.manifests.transitionLocal(ids.targetId, ids.backupId, () => kept);
    }
    // The catalog (Blob Storage) must know about the failure even when no artifact reached it.
    const entry = local && local.status !== 'failed' ? catalogEntryOfFailed(local, failure) : fallback;
    await this.manifests.transition(ids.targetId, ids.backupId, (remote) => {
      if (!remote) return entry;
      return isFinal(remote.status) ? remote : markFailed(remote, failure);
    });
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
