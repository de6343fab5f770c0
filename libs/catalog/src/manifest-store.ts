import { Inject, Injectable } from '@nestjs/common';
import { canTransition, ManifestError, manifestBlobName, type Manifest } from '@tidemark/manifest';
import { BLOB_STORE, LOCAL_TIER, LocalTier, StorageError, type BlobStore } from '@tidemark/storage';
import { protectBlobs, releaseVersionHold } from './blob-protection';
import { Catalog, manifestTags, type StoredManifest } from './catalog';

/**
 * What a transition does with the manifest it is given: the next manifest, or the same object (or null when
 * there is none) to leave it as it is.
 */
export type ManifestChange = (current: Manifest | null) => Manifest | null;

/** Conflicting writers (another replica, retention, a pin) are outlasted this many times before giving up. */
const MAX_WRITE_ATTEMPTS = 5;

/**
 * The one writer of manifests: the local copy on the local tier (what the dumper and uploader work from) and the
 * remote copy in Blob Storage (the catalog). Every write is a transition: read the current copy, apply a change,
 * refuse an illegal status move ({@link canTransition}), and write only if something changed; remote writes are
 * conditional on the etag read, retried when another writer came in between.
 *
 * On an immutable container (a manifest recording `immutability`), no write needs to change a protected version:
 * Azure keeps the version written over as a previous version with its policy, and each new version written here
 * gets the recorded policy (and the legal hold while pinned) right after it is written, as does the artifact.
 */
@Injectable()
export class ManifestStore {
  private readonly catalog: Catalog;

  constructor(
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
  ) {
    this.catalog = new Catalog(store);
  }

  /** The remote copy with its etag, or null. */
  find(backupId: string, targetId?: string): Promise<StoredManifest | null> {
    return this.catalog.find(backupId, targetId);
  }

  readLocal(targetId: string, backupId: string): Promise<Manifest | null> {
    return this.local.readManifest(targetId, backupId);
  }

  /**
   * Changes the remote copy; `change` sees null when the catalog has no manifest of this backup, and creating one
   * refuses to overwrite a copy written meanwhile (it is then read and changed again). Returns what is stored.
   */
  async transition(
    targetId: string,
    backupId: string,
    change: ManifestChange,
    /** The manifest as just read (a listing's copy and etag): the first attempt writes from it without reading. */
    known?: StoredManifest,
  ): Promise<Manifest | null> {
    for (let attempt = 1; ; attempt += 1) {
      const stored = attempt === 1 && known ? known : await this.catalog.find(backupId, targetId);
      const current = stored?.manifest ?? null;
      const next = change(current);
      if (next === current || next === null) {
        // A retry after a write whose protection step failed changes nothing: the version still gets its lock.
        if (current) await protectBlobs(this.store, current, { previous: current });
        return current;
      }
      checkMove(current, next, targetId, backupId);
      if (current) await releaseVersionHold(this.store, current);
      try {
        await this.store.writeJson(
          manifestBlobName(targetId, backupId),
          next,
          stored ? { ifMatch: stored.etag } : { ifNoneMatch: '*' },
          { tags: manifestTags(targetId, backupId) },
        );
        await protectBlobs(this.store, next, { previous: current });
        return next;
      } catch (error) {
        const conflict =
          error instanceof StorageError && (error.code === 'precondition' || error.code === 'exists');
        if (!conflict || attempt >= MAX_WRITE_ATTEMPTS) throw error;
      }
    }
  }

  /** Writes the first remote copy of a backup; one that exists already is StorageError 'exists', never overwritten. */
  async create(manifest: Manifest): Promise<void> {
    await this.store.writeJson(
      manifestBlobName(manifest.target.id, manifest.backupId),
      manifest,
      { ifNoneMatch: '*' },
      { tags: manifestTags(manifest.target.id, manifest.backupId) },
    );
    await protectBlobs(this.store, manifest, { previous: null });
  }

  /**
   * Puts the protection the manifest records on its blobs again (after a write whose protection step failed, or
   * a pin of a backup already marked pinned); a no-op for a manifest without `immutability`.
   */
  async protect(manifest: Manifest): Promise<void> {
    await protectBlobs(this.store, manifest);
  }

  /** {@link transition} of a manifest that must exist: a missing one is StorageError 'not-found'. */
  async update(
    targetId: string,
    backupId: string,
    change: (current: Manifest) => Manifest,
    known?: StoredManifest,
  ): Promise<Manifest> {
    const updated = await this.transition(
      targetId,
      backupId,
      (current) => {
        if (!current) throw new StorageError('not-found', `no manifest for backup ${targetId}/${backupId}`);
        return change(current);
      },
      known,
    );
    return updated as Manifest;
  }

  /** Changes the local copy (written atomically); `change` sees null when there is none. Returns what is stored. */
  async transitionLocal(
    targetId: string,
    backupId: string,
    change: ManifestChange,
  ): Promise<Manifest | null> {
    const current = await this.local.readManifest(targetId, backupId);
    const next = change(current);
    if (next === current || next === null) return current;
    checkMove(current, next, targetId, backupId);
    await this.local.writeManifest(next);
    return next;
  }

  /** Removes the remote copy (retention, after the artifact); only the version read is removed. */
  /** Deletes the manifests of many backups in batches; the failures by backup id (an absent one is none). */
  async removeMany(manifests: readonly Manifest[]): Promise<Map<string, StorageError>> {
    const byBlob = new Map(manifests.map((m) => [manifestBlobName(m.target.id, m.backupId), m.backupId]));
    const failures = await this.store.deleteMany([...byBlob.keys()]);
    return new Map([...failures].map(([blobName, error]) => [byBlob.get(blobName) ?? blobName, error]));
  }

  async remove(manifest: Manifest, etag?: string): Promise<void> {
    await this.store.delete(
      manifestBlobName(manifest.target.id, manifest.backupId),
      etag === undefined ? {} : { ifMatch: etag },
    );
  }
}

/** Ids cannot change and a status moves only as the manifest's rules allow; a new manifest may start anywhere. */
function checkMove(current: Manifest | null, next: Manifest, targetId: string, backupId: string): void {
  if (next.target.id !== targetId || next.backupId !== backupId) {
    throw new ManifestError(
      `a change of backup ${targetId}/${backupId} returned the manifest of ${next.target.id}/${next.backupId}`,
    );
  }
  if (current && !canTransition(current.status, next.status)) {
    throw new ManifestError(`backup ${backupId} cannot move from ${current.status} to ${next.status}`);
  }
}
