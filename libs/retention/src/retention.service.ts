import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { Catalog, ManifestStore, type UnreadableManifest } from '@tidemark/catalog';
import { forEachLimit } from '@tidemark/concurrency';
import { TIDEMARK_CONFIG } from '@tidemark/config';
import { errorData, EventPublisher } from '@tidemark/events';
import {
  ACCESS_TIERS,
  artifactBlobOf,
  markDeleting,
  markTier,
  type AccessTier,
  type Manifest,
} from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import type { TidemarkConfig } from '@tidemark/policy';
import { REDIS, RedisLock, type Lock } from '@tidemark/queues';
import { BLOB_STORE, LOCAL_TIER, StorageError, type BlobStore, type LocalTier } from '@tidemark/storage';
import type { Redis } from 'ioredis';
import {
  bytesPerTier,
  RetentionPlanner,
  type PlannedBackup,
  type RetentionPlanView,
  type Survey,
} from './retention-plan';
import { applyWalPlan, type WalReport } from './wal-apply';
import { DrillHolds, withDrillHolds } from './drill-holds';

/** Redis lock purpose: one retention run per target at a time, across all replicas. */
export const RETENTION_LOCK_PURPOSE = 'retention';
/**
 * Renewed every third of it while a run lasts; short, because a crashed run holds its targets (and so the rotation
 * that frees the local tier) until it lapses: the chaos suite filled a 256 MiB local tier behind a 5-minute TTL.
 */
export const RETENTION_LOCK_TTL_MS = 60 * 1000;

/** The lock every retention run of a target takes, the CLI's `retention apply` included. */
/** What protects an artifact now (`until`: a time, or `legal hold`), or 'failed' when its properties could not be read. */
type ArtifactLock = { until: string } | 'failed' | undefined;

@Injectable()
export class RetentionLock extends RedisLock {
  constructor(@Inject(REDIS) redis: Redis) {
    super(redis, RETENTION_LOCK_PURPOSE, RETENTION_LOCK_TTL_MS);
  }
}

export interface ApplyOptions {
  now?: Date;
  /** Work out and report what would happen; change nothing, publish nothing. */
  dryRun?: boolean;
}

export interface RetentionFailure {
  backupId: string;
  step: 'mark' | 'delete-artifact' | 'delete-manifest' | 'tier' | 'lock' | 'local';
  message: string;
}

export interface RetentionReport {
  targetId: string;
  now: string;
  dryRun: boolean;
  /** Set when another run held this target: nothing was done. */
  skipped: { reason: string; holder: string } | null;
  kept: number;
  /** Backups deleted from Blob Storage (artifact and manifest), including resumed deletions. */
  deleted: string[];
  /** Deletions started by an earlier run and finished by this one. */
  resumed: string[];
  tiered: { backupId: string; from: AccessTier; to: AccessTier }[];
  /** Immutable storage: locks extended because the backup is kept longer (e.g. promoted to a monthly). */
  locksExtended: { backupId: string; until: string }[];
  /** Immutable storage: backups the policy lets go that stay, locked, until the time given. */
  locked: { backupId: string; until: string }[];
  local: { removed: string[]; kept: { backupId: string; reason: string }[] };
  bytesFreed: number;
  /** Bytes left in Blob Storage per access tier after the run. */
  bytesPerTier: Record<AccessTier, number>;
  unreadable: UnreadableManifest[];
  failures: RetentionFailure[];
  /** Physical targets: what was done to the WAL archive; null for other targets. */
  wal: WalReport | null;
}

/** A run that could not do all it planned; what it did is in `report`, and the next run picks up the rest. */
export class RetentionRunError extends Error {
  override readonly name = 'RetentionRunError';
  constructor(readonly report: RetentionReport) {
    const first = report.failures[0];
    const firstWal = report.wal?.failures[0];
    const count = report.failures.length + (report.wal?.failures.length ?? 0);
    super(
      `retention of ${report.targetId}: ${count} step(s) failed` +
        (first
          ? `, first: ${first.step} ${first.backupId}: ${first.message}`
          : firstWal
            ? `, first: ${firstWal.step} ${firstWal.blobName}: ${firstWal.message}`
            : ''),
    );
  }
}

/** Thrown inside a manifest update to give up deleting a backup that changed since it was planned. */
class NoLongerDeletable extends Error {}

/**
 * Applies a target's retention policy to Blob Storage and the local tier.
 *
 * A deletion is three steps: mark the manifest `deletion` (a conditional write), delete the artifact, delete the
 * manifest. A run that stops anywhere in between leaves a marked manifest that the next run finishes, so there is
 * never an artifact without its manifest, nor a manifest without its artifact that is not marked.
 */
@Injectable()
export class RetentionService {
  private readonly logger = new Logger(RetentionService.name);

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: TidemarkConfig,
    private readonly catalog: Catalog,
    private readonly manifests: ManifestStore,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
    private readonly planner: RetentionPlanner,
    @Inject(RetentionLock) private readonly lock: Lock & { readonly ttlMs: number },
    private readonly events: EventPublisher,
    private readonly metrics: TidemarkMetrics,
    /** Backups a restore drill is reading are left alone; without it (tests) nothing is held. */
    @Optional() private readonly drills?: DrillHolds,
  ) {}

  plan(targetId: string, now = new Date()): Promise<RetentionPlanView> {
    return this.planner.plan(targetId, now);
  }

  /** Every configured target, one after the other; fails after trying them all if any failed. */
  async applyAll(options: ApplyOptions = {}): Promise<RetentionReport[]> {
    const now = options.now ?? new Date();
    const reports: RetentionReport[] = [];
    const errors: string[] = [];
    for (const target of this.config.targets) {
      try {
        reports.push(await this.apply(target.id, { ...options, now }));
      } catch (error) {
        if (error instanceof RetentionRunError) reports.push(error.report);
        errors.push(errorData(error).message);
      }
    }
    if (errors.length > 0) throw new Error(errors.join('; '));
    return reports;
  }

  async apply(targetId: string, options: ApplyOptions = {}): Promise<RetentionReport> {
    const now = options.now ?? new Date();
    const dryRun = options.dryRun ?? false;
    // Validates the target before anything else, so an unknown target is a clear error and not a skipped run.
    this.planner.policyFor(targetId);
    if (dryRun) return this.run(targetId, now, true);

    const { lock } = this;
    const owner = randomUUID();
    const holder = await lock.acquire(targetId, owner);
    if (holder !== owner) {
      this.logger.log({ targetId, holder }, 'retention of this target is running elsewhere: skipped');
      return {
        ...emptyReport(targetId, now, false),
        skipped: { reason: 'another run holds the target', holder },
      };
    }
    const keepAlive = setInterval(() => {
      lock.extend(targetId, owner).catch((error: unknown) => {
        this.logger.warn({ targetId, err: errorData(error) }, 'could not extend the retention lock');
      });
    }, lock.ttlMs / 3);
    try {
      return await this.run(targetId, now, false);
    } finally {
      clearInterval(keepAlive);
      await lock.release(targetId, owner).catch((error: unknown) => {
        this.logger.warn({ targetId, err: errorData(error) }, 'could not release the retention lock');
      });
    }
  }

  private async run(targetId: string, now: Date, dryRun: boolean): Promise<RetentionReport> {
    const survey = await this.planner.survey(targetId, now);
    const { manifests } = survey;
    const held = (await this.drills?.held(targetId, [...manifests.keys()])) ?? new Set<string>();
    const view = { ...survey.view, backups: withDrillHolds(survey.view.backups, held) };
    const report: RetentionReport = { ...emptyReport(targetId, now, dryRun), unreadable: view.unreadable };
    // What is left in Blob Storage after the run, with tiers as moved; starts as everything listed.
    const remaining = new Map(manifests);

    // Resumed deletions first, then new ones, oldest first.
    const deletions = view.backups
      .filter((b) => b.action === 'delete')
      .sort((a, b) => Number(b.status === 'deleting') - Number(a.status === 'deleting'));
    const listed = deletions.flatMap((planned) => {
      const manifest = manifests.get(planned.backupId);
      return manifest ? [{ planned, manifest }] : [];
    });
    const deleted = dryRun
      ? listed.map(({ manifest }) => manifest)
      : await this.deleteAll(listed, survey.etags, now, report);
    for (const manifest of deleted) {
      remaining.delete(manifest.backupId);
      report.deleted.push(manifest.backupId);
      if (manifest.deletion) report.resumed.push(manifest.backupId);
      if (manifest.locations.remote) report.bytesFreed += manifest.artifact.size ?? 0;
    }

    const kept = view.backups.filter((b) => b.action === 'keep');
    report.kept = kept.length;
    await forEachLimit(kept, STEP_CONCURRENCY, async (planned) => {
      const move = planned.tierMove;
      const manifest = manifests.get(planned.backupId);
      if (!move || !manifest) return;
      const moved = dryRun
        ? markTier(manifest, move.to, now)
        : await this.moveTier(manifest, move.to, now, report);
      if (!moved) return;
      remaining.set(planned.backupId, moved);
      report.tiered.push({ backupId: planned.backupId, from: move.from, to: move.to });
    });
    await forEachLimit(kept, STEP_CONCURRENCY, async (planned) => {
      const extendTo = planned.lock?.extendTo;
      if (extendTo === undefined) return;
      const manifest = manifests.get(planned.backupId);
      if (!manifest) return;
      if (!dryRun && !(await this.extendLock(manifest, planned, extendTo, report))) return;
      report.locksExtended.push({ backupId: planned.backupId, until: extendTo });
    });
    for (const planned of kept) {
      const until = planned.lock?.until;
      if (until && planned.reasons[0] === `locked until ${until}`)
        report.locked.push({ backupId: planned.backupId, until });
    }
    report.locksExtended.sort((x, y) => x.backupId.localeCompare(y.backupId));
    report.locked.sort((x, y) => x.backupId.localeCompare(y.backupId));
    report.deleted.sort();
    report.resumed.sort();
    report.tiered.sort((x, y) => x.backupId.localeCompare(y.backupId));
    report.failures.sort((x, y) => x.backupId.localeCompare(y.backupId));

    for (const copy of view.local) {
      if (copy.action === 'keep') {
        if (copy.attention) report.local.kept.push({ backupId: copy.backupId, reason: copy.reason });
        continue;
      }
      if (!dryRun) {
        try {
          await this.local.removeBackup(targetId, copy.backupId);
          this.metrics.retentionDeleted.inc({ target: targetId, location: 'local' });
        } catch (error) {
          report.failures.push({ backupId: copy.backupId, step: 'local', message: errorData(error).message });
          continue;
        }
      }
      report.local.removed.push(copy.backupId);
    }

    report.bytesPerTier = bytesPerTier(remaining.values());
    // WAL last: what it may delete depends on which base backups are really gone and where they now are.
    report.wal = await this.applyWal(survey, report, dryRun);
    if (dryRun) return report;

    const failed = await this.publish(report);
    if (failed > 0) throw new RetentionRunError(report);
    return report;
  }

  /** Metrics, the `tidemark.retention.applied` event and the log line of a run; returns how many steps failed. */
  private async publish(report: RetentionReport): Promise<number> {
    const { targetId } = report;
    const failed = report.failures.length + (report.wal?.failures.length ?? 0);
    for (const tier of ACCESS_TIERS) {
      this.metrics.storageBytes.set({ target: targetId, tier }, report.bytesPerTier[tier]);
      if (report.wal)
        this.metrics.walArchiveBytes.set({ target: targetId, tier }, report.wal.bytesPerTier[tier]);
    }
    await this.events.emit(
      'tidemark.retention.applied',
      targetId,
      undefined,
      {
        stage: 'retention',
        counts: {
          kept: report.kept,
          deleted: report.deleted.length,
          resumed: report.resumed.length,
          tiered: report.tiered.length,
          localRemoved: report.local.removed.length,
          localKept: report.local.kept.length,
          unreadable: report.unreadable.length,
          failed,
        },
        sizes: { freed: report.bytesFreed },
        bytesFreed: report.bytesFreed,
        bytesPerTier: report.bytesPerTier,
        deleted: report.deleted,
        tiered: report.tiered,
        ...(report.unreadable.length > 0 && { unreadable: report.unreadable.map((u) => u.blobName) }),
        ...(report.local.kept.length > 0 && { localKept: report.local.kept }),
        ...(report.failures.length > 0 && { failures: report.failures }),
        ...(report.locked.length > 0 && { locked: report.locked }),
        ...(report.locksExtended.length > 0 && { locksExtended: report.locksExtended }),
        ...(report.wal && {
          wal: {
            deleted: report.wal.deleted.length,
            tiered: report.wal.tiered.length,
            bytesFreed: report.wal.bytesFreed,
            bytesPerTier: report.wal.bytesPerTier,
            ...(report.wal.failures.length > 0 && { failures: report.wal.failures }),
          },
        }),
      },
      failed > 0 ? 'warning' : 'info',
    );
    this.logger.log(
      {
        targetId,
        kept: report.kept,
        deleted: report.deleted.length,
        tiered: report.tiered.length,
        localRemoved: report.local.removed.length,
        bytesFreed: report.bytesFreed,
        ...(report.wal && { walDeleted: report.wal.deleted.length, walTiered: report.wal.tiered.length }),
        failures: failed,
      },
      'retention applied',
    );
    return failed;
  }

  /**
   * Carries out the WAL plan of a physical target, planned again with what this run actually did to the base
   * backups: a base whose deletion did not happen keeps holding all WAL after it, a base whose tier move failed
   * keeps its WAL where it is. Only what the shown plan also said is done.
   */
  private async applyWal(
    survey: Survey,
    report: RetentionReport,
    dryRun: boolean,
  ): Promise<WalReport | null> {
    if (!survey.wal) return null;
    const deleted = new Set(report.deleted);
    const moved = new Map(report.tiered.map((t) => [t.backupId, t.to]));
    const planned = new Map(survey.view.backups.map((b) => [b.backupId, b]));
    const holders = survey.wal.input.holders.map((holder) => {
      const backup = planned.get(holder.backupId);
      if (backup?.action === 'delete' && !deleted.has(holder.backupId)) {
        return { ...holder, hold: 'onward' as const, tier: backup.tier };
      }
      return { ...holder, tier: moved.get(holder.backupId) ?? backup?.tier ?? holder.tier };
    });
    return applyWalPlan(this.store, survey.wal.plan, { ...survey.wal.input, holders }, dryRun);
  }

  /**
   * Deletes backups in three phases, each finished for every backup before the next starts: mark each manifest
   * `deletion` (one conditional write each, several at once), delete the marked backups' artifacts (Blob Batch:
   * 256 a request), then the manifests of the artifacts that are gone (batched too). Two batched requests per 256
   * backups replace two requests per backup. A run that stops between phases leaves marked manifests (and no
   * artifact without its manifest), which the next run finishes. Returns the listed manifests of the backups gone.
   */
  private async deleteAll(
    listed: readonly { planned: PlannedBackup; manifest: Manifest }[],
    etags: ReadonlyMap<string, string>,
    now: Date,
    report: RetentionReport,
  ): Promise<Manifest[]> {
    const marked: { listed: Manifest; current: Manifest }[] = [];
    await forEachLimit(listed, STEP_CONCURRENCY, async ({ planned, manifest }) => {
      const etag = etags.get(manifest.backupId);
      const current = await this.mark(manifest, planned, now, report, etag);
      if (current) marked.push({ listed: manifest, current });
    });
    const artifactFailures = await this.store.deleteMany(
      marked.map(({ current }) => artifactBlobOf(current)),
    );
    const artifactsGone = marked.filter(({ current }) => {
      const failure = artifactFailures.get(artifactBlobOf(current));
      if (failure)
        report.failures.push({
          backupId: current.backupId,
          step: 'delete-artifact',
          message: failure.message,
        });
      return failure === undefined;
    });
    const manifestFailures = await this.manifests.removeMany(artifactsGone.map(({ current }) => current));
    const gone = artifactsGone.filter(({ current }) => {
      const failure = manifestFailures.get(current.backupId);
      if (failure)
        report.failures.push({
          backupId: current.backupId,
          step: 'delete-manifest',
          message: failure.message,
        });
      return failure === undefined;
    });
    for (const { current } of gone)
      this.metrics.retentionDeleted.inc({ target: current.target.id, location: 'remote' });
    return gone.map(({ listed: manifest }) => manifest);
  }

  /**
   * Marks a backup's manifest `deletion` (an already marked one, a resumed deletion, as it is). Returns the marked
   * manifest, or undefined when the backup is kept after all (its artifact still protected, pinned or gone since
   * the listing) or the mark failed (reported).
   */
  private async mark(
    manifest: Manifest,
    planned: PlannedBackup,
    now: Date,
    report: RetentionReport,
    /** The etag the manifest was listed at: the mark is written from the listed copy, a changed one is read again. */
    etag?: string,
  ): Promise<Manifest | undefined> {
    const targetId = manifest.target.id;
    // The manifest's record of its lock may be behind the blob's (a run that crashed after extending it): Azure
    // would refuse the delete, so nothing is marked while the artifact is still protected.
    const lock = await this.artifactLock(manifest, now, report);
    if (lock !== undefined) {
      if (lock !== 'failed') {
        this.logger.log(
          { targetId, backupId: manifest.backupId, lock: lock.until },
          'kept: its artifact is still protected',
        );
        report.locked.push({ backupId: manifest.backupId, until: lock.until });
      }
      return undefined;
    }
    if (manifest.deletion) return manifest;
    try {
      return await this.manifests.update(
        targetId,
        manifest.backupId,
        (latest) => {
          // Pinned (or otherwise changed) since the plan was made: the newer manifest wins.
          if (latest.pinned) throw new NoLongerDeletable(`${latest.backupId} was pinned meanwhile`);
          return markDeleting(latest, planned.reasons.join(', '), now);
        },
        etag === undefined ? undefined : { manifest, etag },
      );
    } catch (error) {
      if (error instanceof NoLongerDeletable) {
        this.logger.log({ targetId, backupId: manifest.backupId }, error.message);
        return undefined;
      }
      // Gone since the listing: nothing of it is left to delete here.
      if (error instanceof StorageError && error.code === 'not-found') return undefined;
      report.failures.push({ backupId: manifest.backupId, step: 'mark', message: errorData(error).message });
      return undefined;
    }
  }

  /**
   * What still protects a backup's artifact on an immutable container (`locked until <t>` or `legal hold`), read
   * from the blob itself; undefined when nothing does or the backup records no immutability.
   */
  private async artifactLock(manifest: Manifest, now: Date, report: RetentionReport): Promise<ArtifactLock> {
    if (manifest.immutability === undefined || !manifest.locations.remote) return undefined;
    try {
      const properties = await this.store.properties(artifactBlobOf(manifest));
      if (properties === null) return undefined;
      if (properties.legalHold === true) return { until: 'legal hold' };
      const until = properties.immutability?.until;
      return until !== undefined && until.getTime() > now.getTime()
        ? { until: until.toISOString() }
        : undefined;
    } catch (error) {
      report.failures.push({
        backupId: manifest.backupId,
        step: 'delete-artifact',
        message: errorData(error).message,
      });
      return 'failed';
    }
  }

  /**
   * The artifact's lock is extended first, then the manifest records it (writing the manifest locks its new
   * version): a run that stops in between leaves the record behind the blob, which the next run extends again,
   * and which deletions never trust over the blob.
   */
  private async extendLock(
    manifest: Manifest,
    planned: PlannedBackup,
    until: string,
    report: RetentionReport,
  ): Promise<boolean> {
    const mode = planned.lock?.mode ?? 'locked';
    try {
      if (manifest.locations.remote) await this.extendArtifact(artifactBlobOf(manifest), until, mode);
      await this.manifests.update(manifest.target.id, planned.backupId, (latest) => {
        const recorded = latest.immutability?.until;
        if (recorded !== undefined && new Date(recorded).getTime() >= new Date(until).getTime())
          return latest;
        return { ...latest, immutability: { mode: latest.immutability?.mode ?? mode, until } };
      });
      return true;
    } catch (error) {
      report.failures.push({ backupId: planned.backupId, step: 'lock', message: errorData(error).message });
      return false;
    }
  }

  /** A refusal means the blob is locked at least as long already (a locked policy is never shortened). */
  private async extendArtifact(blobName: string, until: string, mode: 'unlocked' | 'locked'): Promise<void> {
    try {
      await this.store.setImmutability(blobName, { until: new Date(until), mode });
    } catch (error) {
      if (!(error instanceof StorageError && error.code === 'immutable')) throw error;
    }
  }

  /** The blob moves first; the manifest follows, so it never claims a tier the blob is not in for longer than a retry. */
  private async moveTier(
    manifest: Manifest,
    tier: AccessTier,
    now: Date,
    report: RetentionReport,
  ): Promise<Manifest | null> {
    const remote = manifest.locations.remote;
    if (!remote) return null;
    try {
      await this.store.setTier(remote.blobName, tier);
      return await this.manifests.update(manifest.target.id, manifest.backupId, (latest) =>
        markTier(latest, tier, now),
      );
    } catch (error) {
      report.failures.push({ backupId: manifest.backupId, step: 'tier', message: errorData(error).message });
      return null;
    }
  }
}

/** Blob Storage requests in flight at once during a run (each backup's own steps stay in order). */
const STEP_CONCURRENCY = 16;

function emptyReport(targetId: string, now: Date, dryRun: boolean): RetentionReport {
  return {
    targetId,
    now: now.toISOString(),
    dryRun,
    skipped: null,
    kept: 0,
    deleted: [],
    resumed: [],
    tiered: [],
    locksExtended: [],
    locked: [],
    local: { removed: [], kept: [] },
    bytesFreed: 0,
    bytesPerTier: bytesPerTier([]),
    unreadable: [],
    failures: [],
    wal: null,
  };
}
