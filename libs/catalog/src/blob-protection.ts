import { artifactBlobOf, manifestBlobName, type Manifest } from '@tidemark/manifest';
import { StorageError, type BlobStore } from '@tidemark/storage';

/**
 * Puts the protection a manifest records (`immutability`, and a legal hold while pinned) on the backup's
 * artifact and on the manifest's current version. Idempotent, so a retry after a partial failure completes it.
 * A policy already longer than the record (a lock extended by a run that crashed before recording it) is left
 * as it is: Azure refuses to shorten a locked one, and that refusal means the blob is protected enough.
 */
export async function protectBlobs(
  store: BlobStore,
  manifest: Manifest,
  options: ProtectOptions = {},
): Promise<void> {
  const record = manifest.immutability;
  if (record === undefined) return;
  const now = options.now ?? new Date();
  const until = new Date(record.until);
  // Azure takes no expiry in the past; an expired lock protects nothing to renew.
  const live = until.getTime() > now.getTime();
  const { previous } = options;
  const repair = previous === undefined;
  const blobs: { name: string; policy: boolean; hold: boolean }[] = [
    // A version just written carries nothing yet; one being repaired may carry a hold to clear.
    {
      name: manifestBlobName(manifest.target.id, manifest.backupId),
      policy: live,
      hold: repair || manifest.pinned,
    },
  ];
  if (manifest.locations.remote) {
    const had = previous?.immutability;
    const samePolicy = had?.until === record.until && had.mode === record.mode;
    const holdChanged = (previous?.pinned ?? false) !== manifest.pinned;
    blobs.unshift({
      name: artifactBlobOf(manifest),
      policy: live && !samePolicy,
      hold: repair || holdChanged,
    });
  }
  for (const blob of blobs) {
    await unlessSupported(store, async () => {
      if (blob.policy) await extendPolicy(store, blob.name, until, record.mode);
      if (blob.hold) await store.setLegalHold(blob.name, manifest.pinned);
    });
  }
}

export interface ProtectOptions {
  now?: Date;
  /**
   * The manifest version this one replaced (null: none): what the artifact already got from it is not set
   * again. Without it everything is set (a repair).
   */
  previous?: Manifest | null;
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
