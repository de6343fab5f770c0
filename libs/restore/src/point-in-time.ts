import { Inject, Injectable, Optional } from '@nestjs/common';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { TIDEMARK_CONFIG, TIDEMARK_ENV, type LoadedConfig } from '@tidemark/config';
import { errorData, EventPublisher } from '@tidemark/events';
import { markTier, type Manifest } from '@tidemark/manifest';
import { unpacksItself, type RecoveryResult, type StreamSource } from '@tidemark/source-contract';
import { sourceKind } from '@tidemark/source-kinds';
import { BLOB_STORE, type BlobStore } from '@tidemark/storage';
import {
  type BaseBackupPoint,
  formatLsn,
  planRecovery,
  type RecoveryPlan,
  RecoveryRefused,
  type RecoveryTarget,
} from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { identitiesFor, walIdentities } from './artifact-keys';
import { openArtifact, RestoreError } from './artifact-stream';
import { isArchived, isRehydrating, waitUntilOnline } from './rehydration';
import { REHYDRATE_TIER, type RehydrateOptions, type RehydrationStarted } from './restore.service';
import { readArchiveState, WalFetcher } from './wal-supply';

export interface PointInTimeRequest {
  targetId: string;
  target: RecoveryTarget;
  /** The base backup to start from; without it the planner picks the newest that reaches the target. */
  backupId?: string;
  /** The data directory to create (missing or empty unless `clean`). */
  to: string;
  clean: boolean;
  /** Start the restored server on this port and wait until its recovery has ended. */
  start?: { port: number };
  /** Called once the plan stands, before anything is downloaded or written. */
  onPlanned?: (plan: RecoveryPlan, manifest: Manifest, totalBytes: number) => void;
  onProgress?: (bytes: number) => void;
  /** How to treat blobs in the Archive tier; without it, such a restore is refused ('archived'). */
  rehydrate?: RehydrateOptions;
}

export interface PointInTimeResult {
  manifest: Manifest;
  plan: RecoveryPlan;
  destination: string;
  /** Compressed bytes of the base backup read. */
  bytes: number;
  /** WAL files (segments, partials, history files) fetched into the data directory. */
  walFiles: number;
  durationMs: number;
  /** When started: the time of the last transaction replayed (null: none was). */
  reachedAt?: Date | null;
  port?: number;
}

/**
 * Point-in-time restores of targets whose kind keeps a WAL archive: plans from the catalog's base backups and the
 * archive (a target it cannot reach is refused before anything is written), streams the chosen base backup
 * through its sha256 check into the kind's `recover`, which places the planned WAL files, fetched checked, and
 * sets the recovery target. Published as `restore.completed` or `restore.failed`, like any restore.
 */
@Injectable()
export class PointInTimeRestoreService {
  constructor(
    private readonly catalog: Catalog,
    private readonly manifests: ManifestStore,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly events: EventPublisher,
    @Inject(TIDEMARK_ENV) private readonly env: NodeJS.ProcessEnv = process.env,
    /** Names the age identities of encrypted base backups (the target's policy). */
    @Optional() @Inject(TIDEMARK_CONFIG) private readonly config?: LoadedConfig,
  ) {}

  /** Whether the target's backups are base backups a WAL archive rolls forward (its restores name a point in time). */
  async hasWalArchive(targetId: string): Promise<boolean> {
    const { manifests } = await this.catalog.list(targetId);
    return manifests.some((m) => m.content.physical !== undefined);
  }

  /**
   * Publishes `restore.completed` (not when it stops at a started rehydration) or `restore.failed`. Without
   * `rehydrate` a blob in the Archive tier is refused, so the result is a finished restore.
   */
  async restore(request: PointInTimeRequest & { rehydrate?: undefined }): Promise<PointInTimeResult>;
  async restore(request: PointInTimeRequest): Promise<PointInTimeResult | RehydrationStarted>;
  async restore(request: PointInTimeRequest): Promise<PointInTimeResult | RehydrationStarted> {
    const started = Date.now();
    try {
      const result = await this.recover(request, started);
      if ('rehydrating' in result) return result;
      await this.events.emit('tidemark.restore.completed', request.targetId, result.manifest.backupId, {
        stage: 'restore',
        destination: result.destination,
        sizes: { compressed: result.bytes },
        durations: { restore: result.durationMs },
      });
      return result;
    } catch (error) {
      await this.events.emit('tidemark.restore.failed', request.targetId, request.backupId, {
        stage: 'restore',
        durations: { restore: Date.now() - started },
        error: errorData(error),
      });
      throw error;
    }
  }

  /** The plan alone: which base backup and WAL files a restore to `target` would use; refuses like restore. */
  async plan(
    targetId: string,
    target: RecoveryTarget,
    backupId?: string,
    identities: readonly string[] = [],
  ): Promise<RecoveryPlanned> {
    const manifests = await this.baseBackups(targetId, backupId);
    // The identities read encrypted WAL (`.zst.age`) when the fetcher fetches; planning reads only history files.
    const archive = new WalArchive(this.store, { identities });
    const state = await readArchiveState(archive, targetId);
    const bases: BaseBackupPoint[] = manifests.flatMap((m) =>
      m.content.physical ? [{ backupId: m.backupId, physical: m.content.physical }] : [],
    );
    let plan: RecoveryPlan;
    try {
      plan = planRecovery(target, bases, state.archive);
    } catch (error) {
      if (!(error instanceof RecoveryRefused)) throw error;
      const from = backupId ? ` from base backup ${backupId}` : '';
      throw new RestoreError('not-reachable', `${targetId}${from}: ${error.message}`);
    }
    const manifest = manifests.find((m) => m.backupId === plan.base.backupId);
    if (!manifest) throw new Error(`the planner chose ${plan.base.backupId}, which was not offered`);
    return { plan, manifest, fetcher: new WalFetcher(archive, this.store, state.files) };
  }

  private async recover(
    request: PointInTimeRequest,
    started: number,
  ): Promise<PointInTimeResult | RehydrationStarted> {
    const wal = await walIdentities(this.config, request.targetId, this.env);
    const { plan, manifest, fetcher } = await this.plan(
      request.targetId,
      request.target,
      request.backupId,
      wal,
    );
    const rehydrating = await this.bringOnline(manifest, fetcher, plan, request.rehydrate);
    if (rehydrating) return rehydrating;
    const { recover, packed } = this.recoverer(manifest, request.to);
    const { compression } = manifest.artifact;
    const identities = await identitiesFor(this.config, [manifest], this.env);
    let bytes = 0;
    const artifact = await openArtifact(
      this.store,
      manifest,
      (n) => {
        bytes += n;
        request.onProgress?.(bytes);
      },
      identities,
    );
    request.onPlanned?.(plan, manifest, artifact.size);
    const recovered: RecoveryResult = await artifact.feed(
      (input) =>
        recover(
          input,
          {
            files: plan.files,
            more: plan.more,
            wal: fetcher,
            target: plan.target,
            ...(request.start ? { start: request.start } : {}),
          },
          { clean: request.clean, ...(packed ? { compression } : {}) },
        ),
      { packed },
    );
    return {
      manifest,
      plan,
      destination: recovered.destination,
      bytes,
      walFiles: fetcher.fetched,
      durationMs: Date.now() - started,
      ...(recovered.reachedAt === undefined ? {} : { reachedAt: recovered.reachedAt }),
      ...(recovered.port === undefined ? {} : { port: recovered.port }),
    };
  }

  /**
   * The base backups a plan may start from: the named one (uploaded or verified, as any restore), else every
   * verified one: an unverified base backup is never chosen on its own.
   */
  private async baseBackups(targetId: string, backupId: string | undefined): Promise<Manifest[]> {
    if (backupId) {
      const found = await this.catalog.find(backupId, targetId);
      if (!found) throw new RestoreError('not-found', `no backup ${backupId} of target ${targetId}`);
      const { manifest } = found;
      if (manifest.status !== 'verified' && manifest.status !== 'uploaded')
        throw new RestoreError(
          'not-restorable',
          `backup ${backupId} is ${manifest.status}; only uploaded or verified backups can be restored`,
        );
      if (!manifest.content.physical)
        throw new RestoreError(
          'not-restorable',
          `backup ${backupId} is not a base backup: it cannot be rolled forward to a point in time`,
        );
      return [manifest];
    }
    const { manifests } = await this.catalog.list(targetId);
    const bases = manifests.filter((m) => m.content.physical !== undefined && m.status === 'verified');
    if (bases.length === 0)
      throw new RestoreError(
        'not-found',
        `no verified base backup of ${targetId}: a point-in-time restore starts from one`,
      );
    return bases;
  }

  /**
   * The base backup and every planned WAL file must be readable. Archived ones are refused without `rehydrate`;
   * with it their rehydration to Cool is started (and, with `wait`, waited for), as for any restore. Returns the
   * started rehydration when the caller should stop there.
   */
  private async bringOnline(
    manifest: Manifest,
    fetcher: WalFetcher,
    plan: RecoveryPlan,
    rehydrate: RehydrateOptions | undefined,
  ): Promise<RehydrationStarted | null> {
    const blobName = manifest.locations.remote?.blobName;
    if (!blobName || !manifest.artifact.sha256)
      throw new RestoreError('not-restorable', `backup ${manifest.backupId} has no artifact in Blob Storage`);
    const candidates = [blobName, ...fetcher.archivedAmong(plan.files)];
    const archived: { blobName: string; pending: boolean }[] = [];
    for (const name of candidates) {
      const props = await this.store.properties(name);
      if (!props) throw new RestoreError('not-found', `${name} is missing from Blob Storage`);
      if (isArchived(props)) archived.push({ blobName: name, pending: isRehydrating(props) });
    }
    if (archived.length === 0) return null;
    if (!rehydrate)
      throw new RestoreError(
        'archived',
        `${String(archived.length)} blob(s) of this restore (${archived[0]?.blobName ?? ''}…) are in the Archive tier and must be rehydrated first`,
      );
    for (const blob of archived)
      if (!blob.pending)
        await this.store.setTier(blob.blobName, REHYDRATE_TIER, { rehydratePriority: rehydrate.priority });
    const info: RehydrationStarted = {
      rehydrating: true,
      manifest,
      priority: rehydrate.priority,
      alreadyPending: archived.every((blob) => blob.pending),
    };
    rehydrate.onStarted?.(info);
    if (!rehydrate.wait) return info;
    for (const blob of archived) await waitUntilOnline(this.store, blob.blobName, rehydrate);
    if (archived.some((blob) => blob.blobName === blobName))
      await this.manifests.update(manifest.target.id, manifest.backupId, (latest) =>
        latest.locations.remote?.tier === 'Archive' ? markTier(latest, REHYDRATE_TIER, new Date()) : latest,
      );
    return null;
  }

  /**
   * The kind's `recover` for a data directory at `to` (kinds without a WAL archive have none), and whether it
   * unpacks the artifact's compression itself.
   */
  private recoverer(
    manifest: Manifest,
    to: string,
  ): { recover: NonNullable<StreamSource['recover']>; packed: boolean } {
    const kind = sourceKind(manifest.target.kind);
    const target = kind.restoreTarget(to, { format: manifest.artifact.format });
    const source = target ? kind.create(target, { env: this.env }) : undefined;
    if (!source || source.incremental || !source.recover)
      throw new RestoreError(
        'unsupported-kind',
        `${manifest.target.kind} backups in ${manifest.artifact.format} cannot be rolled forward to a point in time`,
      );
    return {
      recover: source.recover.bind(source),
      packed: unpacksItself(source, manifest.artifact.compression),
    };
  }
}

export interface RecoveryPlanned {
  plan: RecoveryPlan;
  manifest: Manifest;
  fetcher: WalFetcher;
}

/** A recovery target in words, for output and messages. */
export function describeRecoveryTarget(target: RecoveryTarget): string {
  switch (target.type) {
    case 'time':
      return target.at.toISOString();
    case 'lsn':
      return `WAL position ${formatLsn(target.lsn)}`;
    case 'latest':
      return 'the latest archived WAL';
    case 'immediate':
      return "the base backup's end";
  }
}
