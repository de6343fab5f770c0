import { Inject, Injectable, Optional } from '@nestjs/common';
import { Catalog, chainOf, ManifestStore, readChain } from '@tidemark/catalog';
import { TIDEMARK_CONFIG, TIDEMARK_ENV, type LoadedConfig } from '@tidemark/config';
import { resolveEnvRefs } from '@tidemark/policy';
import { backupIdTime, markTier, type AccessTier, type Manifest } from '@tidemark/manifest';
import { errorData, EventPublisher, redact } from '@tidemark/events';
import { runMemberTarget, sourceKind, unpacksItself, type Source } from '@tidemark/source-kinds';
import { BLOB_STORE, type BlobStore, type RehydratePriority } from '@tidemark/storage';
import { constants } from 'node:fs';
import { access, open, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { assertIdentitiesOpen, identitiesFor } from './artifact-keys';
import { asRestoreError, openArtifact, RestoreError } from './artifact-stream';
import { isArchived, waitUntilOnline } from './rehydration';

export { RestoreError };

export interface RestoreRequest {
  targetId: string;
  backupId?: string;
  /** Restore the newest verified backup taken at or before this time. */
  at?: Date;
  /**
   * A database URL (may be a `${ENV}` reference, keeping the password out of argv) or a file path to write the
   * dump to; for sqlite and directory targets the path to restore into; for azure-blob a container URL.
   */
  to: string;
  clean: boolean;
  /** Server targets (`databases:`): which database's backup to restore. */
  database?: string;
  /** Parallel pg_restore workers for directory-format (jobs) backups; default 2. */
  jobs?: number;
  onStart?: (manifest: Manifest, totalBytes: number) => void;
  onProgress?: (bytes: number) => void;
  /** How to treat a backup in the Archive tier; without it, restoring one is refused ('archived'). */
  rehydrate?: RehydrateOptions;
}

/** A whole server run: every member is chosen from the run, so neither a backup nor a database is named. */
export type RunRestoreRequest = Omit<RestoreRequest, 'backupId' | 'database' | 'rehydrate'>;

export interface RehydrateOptions {
  priority: RehydratePriority;
  /** Wait until the blob is readable, then restore; otherwise return once rehydration has started. */
  wait: boolean;
  /** Between two looks at the blob while waiting; default one minute (Azure takes hours). */
  pollMs?: number;
  onStarted?: (info: RehydrationStarted) => void;
  onWaiting?: (status: { archiveStatus: string | undefined; elapsedMs: number }) => void;
}

/** The backup is in Archive: its rehydration to Cool is under way (started now, or earlier by someone else). */
export interface RehydrationStarted {
  rehydrating: true;
  manifest: Manifest;
  priority: RehydratePriority;
  /** True when an earlier request had already started it. */
  alreadyPending: boolean;
}

/** Where Archive blobs are rehydrated to: readable, and cheaper to keep than Hot until retention moves it again. */
export const REHYDRATE_TIER: AccessTier = 'Cool';

export interface RestoreResult {
  manifest: Manifest;
  destination: string;
  bytes: number;
  durationMs: number;
}

/**
 * Brings a backup back: chooses it from the catalog, streams the blob through a sha256 check and decompression
 * into the database's restore tool (or a file). The last bytes are held back until the checksum matches, so a
 * damaged blob never completes a restore. Each restore is published as `restore.completed` or `restore.failed`.
 */
@Injectable()
export class RestoreService {
  constructor(
    private readonly catalog: Catalog,
    private readonly manifests: ManifestStore,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly events: EventPublisher,
    @Inject(TIDEMARK_ENV) private readonly env: NodeJS.ProcessEnv = process.env,
    /** Names the age identities of encrypted backups (the target's policy); without it they cannot be read. */
    @Optional() @Inject(TIDEMARK_CONFIG) private readonly config?: LoadedConfig,
  ) {}

  async choose(targetId: string, backupId?: string, at?: Date, database?: string): Promise<Manifest> {
    if (backupId) {
      const found = await this.catalog.find(backupId, targetId);
      if (!found) throw new RestoreError('not-found', `no backup ${backupId} of target ${targetId}`);
      const { status } = found.manifest;
      if (status !== 'verified' && status !== 'uploaded') {
        throw new RestoreError(
          'not-restorable',
          `backup ${backupId} is ${status}; only uploaded or verified backups can be restored`,
        );
      }
      return found.manifest;
    }
    const { manifests } = await this.catalog.list(targetId);
    const isServer = manifests.some((m) => m.run !== undefined);
    if (isServer && database === undefined) {
      const names = [...new Set(manifests.filter((m) => m.run).map((m) => m.target.database))].sort();
      throw new RestoreError(
        'database-required',
        `target ${targetId} backs up several databases (${names.join(', ')}); name one with --database or restore them all with --all-databases`,
      );
    }
    const candidates = manifests.filter(
      (m) =>
        m.status === 'verified' &&
        (database === undefined || m.target.database === database) &&
        (!at || backupIdTime(m.backupId).getTime() <= at.getTime()),
    );
    const chosen = candidates.at(-1);
    if (!chosen) {
      const what = database === undefined ? targetId : `database ${database} of ${targetId}`;
      throw new RestoreError(
        'not-found',
        at
          ? `no verified backup of ${what} taken at or before ${at.toISOString()}`
          : `no verified backup of ${what}`,
      );
    }
    return chosen;
  }

  /**
   * The newest run of a server target (at or before `at`) whose every member is verified: the globals first,
   * then each database.
   */
  async chooseRun(targetId: string, at?: Date): Promise<Manifest[]> {
    const { manifests } = await this.catalog.list(targetId);
    const runs = new Map<string, Manifest[]>();
    for (const m of manifests) {
      if (!m.run) continue;
      const list = runs.get(m.run.id) ?? [];
      list.push(m);
      runs.set(m.run.id, list);
    }
    const complete = [...runs.entries()]
      .filter(([runId, members]) => {
        const expected = members[0]?.run?.members?.length ?? members.length;
        return (
          (!at || backupIdTime(runId).getTime() <= at.getTime()) &&
          members.length === expected &&
          members.every((m) => m.status === 'verified')
        );
      })
      .sort(([a], [b]) => a.localeCompare(b));
    const chosen = complete.at(-1);
    if (!chosen)
      throw new RestoreError(
        'not-found',
        `no run of ${targetId} with every database verified${at ? ` taken at or before ${at.toISOString()}` : ''}`,
      );
    return chosen[1].sort((a, b) =>
      a.run?.role === b.run?.role
        ? a.target.database.localeCompare(b.target.database)
        : a.run?.role === 'globals'
          ? -1
          : 1,
    );
  }

  /**
   * Every database of a server run (and its roles first) onto the server `to` points at. Publishes one
   * `restore.completed` per member once all are restored, or one `restore.failed` for the run.
   */
  async restoreRun(request: RunRestoreRequest): Promise<RestoreResult[]> {
    const results = await this.restoreMembers(request).catch(async (error: unknown) => {
      await this.events.emit('tidemark.restore.failed', request.targetId, undefined, {
        stage: 'restore',
        error: errorData(error),
      });
      throw error;
    });
    for (const result of results) await this.published(request.targetId, result);
    return results;
  }

  private async restoreMembers(request: RunRestoreRequest): Promise<RestoreResult[]> {
    const members = await this.chooseRun(request.targetId, request.at);
    const server = this.resolveTo(request.to);
    const results: RestoreResult[] = [];
    for (const member of members) {
      // The member's database on that server, as its kind derives it; the roles go to the server itself.
      const to =
        member.run?.role === 'globals'
          ? server
          : runMemberTarget({ kind: member.target.kind, url: server }, member).url;
      results.push(await this.restoreOne({ ...request, backupId: member.backupId, to }));
    }
    return results;
  }

  /** Restores are facts too; publishing never fails a good restore (EventPublisher.emit does not throw). */
  private async published(targetId: string, result: RestoreResult): Promise<void> {
    await this.events.emit('tidemark.restore.completed', targetId, result.manifest.backupId, {
      stage: 'restore',
      destination: result.destination,
      sizes: { compressed: result.bytes },
      durations: { restore: result.durationMs },
    });
  }

  private resolveTo(to: string): string {
    return to.includes('${') ? resolveEnvRefs(to, this.env, '--to') : to;
  }

  /** The manifest follows the blob out of Archive, so `list` and retention see where it is now. */
  private async recordRehydrated(manifest: Manifest): Promise<Manifest> {
    return this.manifests.update(manifest.target.id, manifest.backupId, (latest) =>
      latest.locations.remote?.tier === 'Archive' ? markTier(latest, REHYDRATE_TIER, new Date()) : latest,
    );
  }

  /**
   * Without `rehydrate` an archived backup is refused, so the result is always a finished restore. Publishes
   * `restore.completed` (not when it stops at a started rehydration) or `restore.failed`.
   */
  async restore(request: RestoreRequest & { rehydrate?: undefined }): Promise<RestoreResult>;
  async restore(request: RestoreRequest): Promise<RestoreResult | RehydrationStarted>;
  async restore(request: RestoreRequest): Promise<RestoreResult | RehydrationStarted> {
    const started = Date.now();
    const result = await this.restoreOne(request).catch(async (error: unknown) => {
      await this.events.emit('tidemark.restore.failed', request.targetId, request.backupId, {
        stage: 'restore',
        durations: { restore: Date.now() - started },
        error: errorData(error),
      });
      throw error;
    });
    if (!('rehydrating' in result)) await this.published(request.targetId, result);
    return result;
  }

  private async restoreOne(request: RestoreRequest & { rehydrate?: undefined }): Promise<RestoreResult>;
  private async restoreOne(request: RestoreRequest): Promise<RestoreResult | RehydrationStarted>;
  private async restoreOne(request: RestoreRequest): Promise<RestoreResult | RehydrationStarted> {
    const started = Date.now();
    const point = await this.choose(request.targetId, request.backupId, request.at, request.database);
    if (!point.locations.remote || !point.artifact.sha256)
      throw new RestoreError('not-restorable', `backup ${point.backupId} has no artifact in Blob Storage`);
    const chained = point.chain !== undefined;
    let members = chained
      ? await chainOf(this.catalog, point).catch((error: unknown) => {
          throw asRestoreError(error);
        })
      : [point];
    const online = await this.bringOnline(point, members, request.rehydrate);
    if (online) return online;
    members = await Promise.all(
      members.map((m) =>
        m.locations.remote?.tier === 'Archive' ? this.recordRehydrated(m) : Promise.resolve(m),
      ),
    );
    // The point itself may hold no bytes (an incremental of deletions only) and so not be among the members.
    const manifest = members.find((m) => m.backupId === point.backupId) ?? point;
    const to = this.resolveTo(request.to);
    const destination = this.destination(manifest, to, request);
    if (!destination && !request.clean) {
      const exists = await access(to, constants.F_OK).then(
        () => true,
        () => false,
      );
      if (exists) throw new RestoreError('target-exists', `${to} already exists; pass --clean to replace it`);
    }

    const identities = await identitiesFor(this.config, members, this.env);
    await assertIdentitiesOpen(this.store, members, identities);
    let bytes = 0;
    const count = (n: number): void => {
      bytes += n;
      request.onProgress?.(bytes);
    };
    if (destination?.incremental) {
      request.onStart?.(
        manifest,
        members.reduce((sum, m) => sum + (m.artifact.size ?? 0), 0),
      );
      await destination
        .restore(readChain(this.store, members, { onBytes: count, identities }), manifest.content, {
          clean: request.clean,
        })
        .catch((error: unknown) => {
          throw asRestoreError(error);
        });
      return { manifest, destination: redact(to), bytes, durationMs: Date.now() - started };
    }

    const artifact = await openArtifact(this.store, manifest, count, identities);
    request.onStart?.(manifest, artifact.size);
    if (destination) {
      const { compression } = manifest.artifact;
      const packed = unpacksItself(destination, compression);
      await artifact.feed(
        (input) => destination.restore(input, { clean: request.clean, ...(packed ? { compression } : {}) }),
        { packed },
      );
      return { manifest, destination: redact(to), bytes, durationMs: Date.now() - started };
    }
    const file = await open(to, 'w', 0o600);
    try {
      await artifact.feed((input) => pipeline(input, file.createWriteStream()));
    } catch (error) {
      await rm(to, { force: true });
      throw error;
    } finally {
      await file.close().catch(() => undefined);
    }
    return { manifest, destination: to, bytes, durationMs: Date.now() - started };
  }

  /**
   * Where the bytes go: the kind's own restore (a database, a file-based store, a container), or null to write
   * the decompressed artifact to the file `to` (a dump file for the stock tools).
   */
  private destination(manifest: Manifest, to: string, request: RestoreRequest): Source | null {
    const kind = sourceKind(manifest.target.kind);
    const target = kind.restoreTarget(to, { format: manifest.artifact.format, jobs: request.jobs });
    if (!target) return null;
    // `to` names the one database (or the server, for the globals): only the member's role carries over.
    const member = manifest.run?.role === 'globals' ? runMemberTarget(target, manifest) : target;
    return kind.create(member, { env: this.env });
  }

  /**
   * Every member must be readable. Archived ones are refused without `rehydrate`; with it their rehydration is
   * started (and, with `wait`, waited for). Returns the started rehydration when the caller should stop there.
   */
  private async bringOnline(
    point: Manifest,
    members: readonly Manifest[],
    rehydrate: RehydrateOptions | undefined,
  ): Promise<RehydrationStarted | null> {
    const archived: { blobName: string; pending: boolean }[] = [];
    for (const member of members) {
      const blobName = member.locations.remote?.blobName;
      if (!blobName)
        throw new RestoreError('not-restorable', `backup ${member.backupId} has no artifact in Blob Storage`);
      // The blob's own tier decides (the manifest may lag behind a rehydration that finished meanwhile).
      const props = await this.store.properties(blobName);
      if (!props)
        throw new RestoreError('not-found', `the artifact ${blobName} of ${member.backupId} is missing`);
      if (isArchived(props))
        archived.push({ blobName, pending: props.archiveStatus?.startsWith('rehydrate-pending') ?? false });
    }
    if (archived.length === 0) return null;
    if (!rehydrate) {
      throw new RestoreError(
        'archived',
        archived.length === 1 && members.length === 1
          ? `backup ${point.backupId} is in the Archive tier and must be rehydrated before it can be restored`
          : `backup ${point.backupId} needs ${archived.length} archived chain member(s) rehydrated before it can be restored`,
      );
    }
    for (const blob of archived) {
      if (!blob.pending)
        await this.store.setTier(blob.blobName, REHYDRATE_TIER, { rehydratePriority: rehydrate.priority });
    }
    const info: RehydrationStarted = {
      rehydrating: true,
      manifest: point,
      priority: rehydrate.priority,
      alreadyPending: archived.every((blob) => blob.pending),
    };
    rehydrate.onStarted?.(info);
    if (!rehydrate.wait) return info;
    for (const blob of archived) await waitUntilOnline(this.store, blob.blobName, rehydrate);
    return null;
  }
}
