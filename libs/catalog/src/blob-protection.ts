import { artifactBlobName, manifestBlobName, type Manifest } from '@tidemark/manifest';
import { StorageError, type BlobStore } from '@tidemark/storage';

/**
 * Puts the protection a manifest records (`immutability`, and a legal hold while pinned) on the backup's
 * artifact and on the manifest's current version. Idempotent, so a retry after a partial failure completes it.
 * A policy already longer than the record (a lock extended by a run that crashed before recording it) is left
 * as it is: Azure refuses to shorten a locked one, and that refusal means the blob is protected enough.
 */
export async function protectBlobs(store: BlobStore, manifest: Manifest, now = new Date()): Promise<void> {
  const record = manifest.immutability;
  if (record === undefined) return;
  const until = new Date(record.until);
  const names = [manifestBlobName(manifest.target.id, manifest.backupId)];
  if (manifest.locations.remote) names.unshift(artifactBlobOf(manifest));
  for (const name of names) {
    await unlessSupported(store, async () => {
      // Azure takes no expiry in the past; an expired lock protects nothing to renew.
      if (until.getTime() > now.getTime()) await extendPolicy(store, name, until, record.mode);
      await store.setLegalHold(name, manifest.pinned);
    });
  }
}

/**
 * Before a pinned manifest's current version is written over: its legal hold is cleared, since the version
 * becomes a previous one that nobody would ever unpin (its time-based policy stays).
 */
export async function releaseVersionHold(store: BlobStore, manifest: Manifest): Promise<void> {
  if (manifest.immutability === undefined || !manifest.pinned) return;
  const name = manifestBlobName(manifest.target.id, manifest.backupId);
  await unlessSupported(store, () => store.setLegalHold(name, false));
}

export function artifactBlobOf(manifest: Manifest): string {
  return (
    manifest.locations.remote?.blobName ??
    artifactBlobName(manifest.target.id, manifest.backupId, manifest.artifact.name)
  );
}

async function extendPolicy(
  store: BlobStore,
  name: string,
  until: Date,
  mode: 'unlocked' | 'locked',
): Promise<void> {
  try {
    await store.setImmutability(name, { until, mode });
  } catch (error) {
    if (error instanceof StorageError && error.code === 'immutable') return;
    throw error;
  }
}

async function unlessSupported(store: BlobStore, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof StorageError && error.code === 'not-supported')) throw error;
    throw new StorageError(
      'not-supported',
      `storage.immutability is set, but ${store.endpoint} does not implement version-level immutability (Azurite does not): enable version-level immutability on container ${store.container} in Azure, or remove the setting`,
    );
  }
}
