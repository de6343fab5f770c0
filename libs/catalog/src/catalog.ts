import { forEachLimit } from '@tidemark/concurrency';
import { errorData } from '@tidemark/events';
import {
  isBackupId,
  manifestBlobName,
  parseManifest,
  parseManifestBlobName,
  type Manifest,
} from '@tidemark/manifest';
import { StorageError, type BlobStore } from '@tidemark/storage';

/** The index tag every manifest carries with its backup id, so `find` needs no listing. */
export const MANIFEST_BACKUP_TAG = 'backup';

/** The index tags of a manifest blob (Azure replaces a blob's tags at each write: every write names them all). */
export function manifestTags(targetId: string, backupId: string): Record<string, string> {
  return { target: targetId, [MANIFEST_BACKUP_TAG]: backupId };
}

export interface StoredManifest {
  manifest: Manifest;
  etag: string;
}

export interface UnreadableManifest {
  blobName: string;
  error: string;
}

export interface Listing {
  manifests: Manifest[];
  unreadable: UnreadableManifest[];
  /** The etag each manifest was read at, by backup id: a change made from this listing needs no second read. */
  etags: Map<string, string>;
}

/**
 * The catalog is the set of manifests in Blob Storage, beside the data they describe. Nothing else is needed to
 * rebuild it: listing the container is the catalog, so losing Redis loses no history. It only reads: every write
 * goes through `ManifestStore`.
 */
export class Catalog {
  constructor(private readonly store: BlobStore) {}

  /** Every manifest (of one target, or all), oldest first. Unparseable manifests are reported, never dropped silently. */
  async list(targetId?: string, concurrency = 16): Promise<Listing> {
    const names: string[] = [];
    for await (const blob of this.store.list(targetId ? `${targetId}/` : '')) {
      if (parseManifestBlobName(blob.name)) names.push(blob.name);
    }
    const manifests: Manifest[] = [];
    const unreadable: UnreadableManifest[] = [];
    const etags = new Map<string, string>();
    await forEachLimit(names, concurrency, async (blobName) => {
      try {
        const stored = await this.store.readJson(blobName);
        if (!stored) return;
        const manifest = parseManifest(stored.value, blobName);
        manifests.push(manifest);
        etags.set(manifest.backupId, stored.etag);
      } catch (error) {
        // 'integrity' is a manifest that is not JSON at all: as unreadable as one that fails the schema.
        if (error instanceof StorageError && error.code !== 'not-found' && error.code !== 'integrity')
          throw error;
        unreadable.push({ blobName, error: errorData(error).message });
      }
    });
    manifests.sort((a, b) => a.backupId.localeCompare(b.backupId));
    return { manifests, unreadable, etags };
  }

  /** One manifest with its etag, for read-modify-write. Without a target id the container is searched. */
  async find(backupId: string, targetId?: string): Promise<StoredManifest | null> {
    const blobName = targetId ? manifestBlobName(targetId, backupId) : await this.locate(backupId);
    if (!blobName) return null;
    const stored = await this.store.readJson(blobName);
    if (!stored) return null;
    return { manifest: parseManifest(stored.value, blobName), etag: stored.etag };
  }

  /**
   * The manifest's blob name by its index tag (one query however many manifests there are); listing the
   * container only when the tag finds nothing: a manifest written before manifests were tagged, or one written
   * so recently that Azure's tag index does not have it yet.
   */
  private async locate(backupId: string): Promise<string | null> {
    if (!isBackupId(backupId)) return null;
    try {
      for await (const name of this.store.findByTag(MANIFEST_BACKUP_TAG, backupId)) {
        if (parseManifestBlobName(name)?.backupId === backupId) return name;
      }
    } catch (error) {
      // A role that may read but not query the index (Storage Blob Data Reader has no blobs/filter/action) still
      // finds the manifest by listing; every other failure is the caller's to see.
      if (!(error instanceof StorageError && (error.code === 'auth' || error.code === 'not-supported')))
        throw error;
    }
    for await (const blob of this.store.list('')) {
      const parsed = parseManifestBlobName(blob.name);
      if (parsed?.backupId === backupId) return blob.name;
    }
    return null;
  }
}
