import { ChecksumMismatchError, createDecompressor, VerifiedStream } from '@tidemark/artifact';
import { Catalog } from '@tidemark/catalog';
import { resolveEnvRefs } from '@tidemark/policy';
import { backupIdTime, markTier, type AccessTier, type Manifest } from '@tidemark/manifest';
import { redact } from '@tidemark/events';
import { createSource } from '@tidemark/sources';
import type { BlobStore, RehydratePriority } from '@tidemark/storage';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants } from 'node:fs';
import { access, open, rm } from 'node:fs/promises';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface RestoreRequest {
  targetId: string;
  backupId?: string;
  /** Restore the newest verified backup taken at or before this time. */
  at?: Date;
  /** A database URL (may be a `${ENV}` reference, keeping the password out of argv) or a file path. */
  to: string;
  clean: boolean;
  onStart?: (manifest: Manifest, totalBytes: number) => void;
  onProgress?: (bytes: number) => void;
  /** How to treat a backup in the Archive tier; without it, restoring one is refused ('archived'). */
  rehydrate?: RehydrateOptions;
}

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

export class RestoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Brings a backup back: chooses it from the catalog, streams the blob through a sha256 check and decompression
 * into the database's restore tool (or a file). The last bytes are held back until the checksum matches, so a
 * damaged blob never completes a restore.
 */
export class RestoreService {
  constructor(
    private readonly catalog: Catalog,
    private readonly store: BlobStore,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async choose(targetId: string, backupId?: string, at?: Date): Promise<Manifest> {
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
    const candidates = manifests.filter(
      (m) => m.status === 'verified' && (!at || backupIdTime(m.backupId).getTime() <= at.getTime()),
    );
    const chosen = candidates.at(-1);
    if (!chosen) {
      throw new RestoreError(
        'not-found',
        at
          ? `no verified backup of ${targetId} taken at or before ${at.toISOString()}`
          : `no verified backup of ${targetId}`,
      );
    }
    return chosen;
  }

  private async waitUntilOnline(blobName: string, rehydrate: RehydrateOptions): Promise<void> {
    const started = Date.now();
    for (;;) {
      const props = await this.store.properties(blobName);
      if (!props)
        throw new RestoreError('not-found', `${blobName} disappeared while it was being rehydrated`);
      if (!isArchived(props)) return;
      rehydrate.onWaiting?.({ archiveStatus: props.archiveStatus, elapsedMs: Date.now() - started });
      await sleep(rehydrate.pollMs ?? 60_000);
    }
  }

  /** The manifest follows the blob out of Archive, so `list` and retention see where it is now. */
  private async recordRehydrated(manifest: Manifest): Promise<Manifest> {
    return this.catalog.update(manifest.target.id, manifest.backupId, (latest) =>
      latest.locations.remote?.tier === 'Archive' ? markTier(latest, REHYDRATE_TIER, new Date()) : latest,
    );
  }

  /** Without `rehydrate` an archived backup is refused, so the result is always a finished restore. */
  async restore(request: RestoreRequest & { rehydrate?: undefined }): Promise<RestoreResult>;
  async restore(request: RestoreRequest): Promise<RestoreResult | RehydrationStarted>;
  async restore(request: RestoreRequest): Promise<RestoreResult | RehydrationStarted> {
    const started = Date.now();
    let manifest = await this.choose(request.targetId, request.backupId, request.at);
    const remote = manifest.locations.remote;
    const sha256 = manifest.artifact.sha256;
    if (!remote || !sha256)
      throw new RestoreError('not-restorable', `backup ${manifest.backupId} has no artifact in Blob Storage`);
    // The blob's own tier decides (the manifest may lag behind a rehydration that finished meanwhile).
    const props = await this.store.properties(remote.blobName);
    if (!props)
      throw new RestoreError(
        'not-found',
        `the artifact ${remote.blobName} of ${manifest.backupId} is missing`,
      );
    if (isArchived(props)) {
      const rehydrate = request.rehydrate;
      if (!rehydrate) {
        throw new RestoreError(
          'archived',
          `backup ${manifest.backupId} is in the Archive tier and must be rehydrated before it can be restored`,
        );
      }
      const alreadyPending = props.archiveStatus?.startsWith('rehydrate-pending') ?? false;
      if (!alreadyPending)
        await this.store.setTier(remote.blobName, REHYDRATE_TIER, { rehydratePriority: rehydrate.priority });
      const info: RehydrationStarted = {
        rehydrating: true,
        manifest,
        priority: rehydrate.priority,
        alreadyPending,
      };
      rehydrate.onStarted?.(info);
      if (!rehydrate.wait) return info;
      await this.waitUntilOnline(remote.blobName, rehydrate);
    }
    if (remote.tier === 'Archive') manifest = await this.recordRehydrated(manifest);
    const to = request.to.includes('${') ? resolveEnvRefs(request.to, this.env, '--to') : request.to;
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(to);
    if (!isUrl && !request.clean) {
      const exists = await access(to, constants.F_OK).then(
        () => true,
        () => false,
      );
      if (exists) throw new RestoreError('target-exists', `${to} already exists; pass --clean to replace it`);
    }

    const download = await this.store.download(remote.blobName);
    request.onStart?.(manifest, download.size);
    let bytes = 0;
    const progress = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
        bytes += chunk.length;
        request.onProgress?.(bytes);
        done(null, chunk);
      },
    });
    const verified = new VerifiedStream(sha256);
    const decompressor = createDecompressor(manifest.artifact.compression);

    if (isUrl) {
      const destination = createSource({ kind: manifest.target.kind, url: to }, { env: this.env });
      const input = new PassThrough();
      const feeding = pipeline(download.stream, progress, verified, decompressor, input);
      // If the checksum fails the input is destroyed before its end, and the restore (one transaction) fails too.
      // If the restore refuses or fails first, the download is torn down instead of stalling with nobody reading.
      const restoring = destination.restore(input, { clean: request.clean }).catch((error: unknown) => {
        input.destroy();
        throw error;
      });
      const [feed, restored] = await Promise.allSettled([feeding, restoring]);
      if (feed.status === 'rejected' && feed.reason instanceof ChecksumMismatchError) throw feed.reason;
      if (restored.status === 'rejected') throw asRestoreError(restored.reason);
      if (feed.status === 'rejected') throw asRestoreError(feed.reason);
      return { manifest, destination: redact(to), bytes, durationMs: Date.now() - started };
    }

    const file = await open(to, 'w', 0o600);
    try {
      await pipeline(download.stream, progress, verified, decompressor, file.createWriteStream());
    } catch (error) {
      await rm(to, { force: true });
      throw asRestoreError(error);
    } finally {
      await file.close().catch(() => undefined);
    }
    return { manifest, destination: to, bytes, durationMs: Date.now() - started };
  }
}

function isArchived(props: { tier: string | undefined; archiveStatus?: string }): boolean {
  return props.tier === 'Archive' || (props.archiveStatus?.startsWith('rehydrate-pending') ?? false);
}

function asRestoreError(error: unknown): Error {
  if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') return error;
  return new RestoreError('restore-failed', error instanceof Error ? error.message : String(error));
}
