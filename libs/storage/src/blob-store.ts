import type { StorageError } from '@tidemark/azure-blob-sdk';
import type { AccessTier } from '@tidemark/manifest';

export type RehydratePriority = 'Standard' | 'High';

export interface CommitOptions {
  metadata: Record<string, string>;
  /** Blob index tags (queryable across the account; at most 10). */
  tags: Record<string, string>;
  tier: AccessTier;
  contentType?: string;
  /** The whole blob's MD5 (base64), stored as its Content-MD5. */
  contentMd5?: string;
}

export type ImmutabilityMode = 'unlocked' | 'locked';

/** A version-level time-based retention policy (WORM) on a blob's current version. */
export interface ImmutabilityPolicy {
  until: Date;
  mode: ImmutabilityMode;
}

export interface BlobProperties {
  etag: string;
  size: number;
  metadata: Record<string, string>;
  tier: string | undefined;
  lastModified: Date;
  /** Set while a blob is being rehydrated out of Archive, e.g. `rehydrate-pending-to-hot`. */
  archiveStatus?: string;
  /** The current version's time-based retention policy, when it has one (expired ones included). */
  immutability?: ImmutabilityPolicy;
  /** The current version has a legal hold. */
  legalHold?: boolean;
}

export interface BlobListItem {
  name: string;
  size: number;
  lastModified: Date;
  tier?: string;
}

export interface BlobDownload {
  /** A Node Readable of the blob's bytes, streamed from the service. */
  stream: NodeJS.ReadableStream;
  size: number;
  etag: string;
}

export type WriteCondition = { ifNoneMatch: '*' } | { ifMatch: string } | 'overwrite';

/** The container of backups as every other library sees it. All failures are StorageError. */
export interface BlobStore {
  readonly container: string;
  /** Account URL without credentials, for messages. */
  readonly endpoint: string;
  /** Creates the container if missing; safe to call from every replica at start. */
  ensureContainer(): Promise<void>;
  /** Cheap reachability and authorisation check for readiness probes. */
  ping(): Promise<void>;
  /**
   * Whether the container has version-level immutability enabled (Azure sets it when the container or account is
   * created, never through the data plane); null when the service does not say (Azurite).
   */
  versionImmutability(): Promise<boolean | null>;
  /** Stages one block with its MD5 so the service rejects a block corrupted in transit ('integrity'). */
  stageBlock(blobName: string, blockId: string, data: Buffer): Promise<void>;
  /** Ids of staged but uncommitted blocks; empty when nothing is staged or the blob is absent. */
  uncommittedBlockIds(blobName: string): Promise<Set<string>>;
  /** Commits staged blocks into a new blob; never overwrites (StorageError 'exists'). */
  commitBlocks(blobName: string, blockIds: string[], options: CommitOptions): Promise<{ etag: string }>;
  /** null when the blob does not exist. */
  properties(blobName: string): Promise<BlobProperties | null>;
  tags(blobName: string): Promise<Record<string, string>>;
  setTags(blobName: string, tags: Record<string, string>): Promise<void>;
  /** Moving an Archive blob to an online tier starts its rehydration (hours, at the given priority). */
  setTier(
    blobName: string,
    tier: AccessTier,
    options?: { rehydratePriority?: RehydratePriority },
  ): Promise<void>;
  /** Streams the blob; never buffers it whole. */
  download(blobName: string): Promise<BlobDownload>;
  /** null when the blob does not exist. */
  readJson(blobName: string): Promise<{ value: unknown; etag: string } | null>;
  /**
   * A failed condition is StorageError 'exists' (ifNoneMatch) or 'precondition' (ifMatch). `tags` become the
   * blob's index tags (Azure replaces them with each write, so every write names them all).
   */
  writeJson(
    blobName: string,
    value: unknown,
    condition: WriteCondition,
    options?: { tags?: Record<string, string> },
  ): Promise<{ etag: string }>;
  list(prefix: string): AsyncIterable<BlobListItem>;
  /**
   * Names of the container's blobs whose index tag `key` is `value` (Azure's Find Blobs by Tags: one indexed
   * query, no listing). Azure's index follows writes within seconds, not at once: a blob written just now may be
   * missing, so a caller that must find it falls back to listing.
   */
  findByTag(key: string, value: string): AsyncIterable<string>;
  /**
   * Deleting an absent blob is not an error; a stale ifMatch is StorageError 'precondition'; a version under an
   * unexpired policy or a legal hold is StorageError 'immutable'.
   */
  delete(blobName: string, options?: { ifMatch?: string }): Promise<void>;
  /**
   * Deletes many blobs in as few requests as the service allows (Azure's Blob Batch: up to 256 deletes per
   * request). Returns the failures by blob name, each a StorageError as `delete` would throw it ('immutable' for a
   * protected version); an absent blob is no failure. A batch the service refuses as a whole fails every name in it.
   */
  deleteMany(blobNames: readonly string[]): Promise<Map<string, StorageError>>;
  /**
   * Sets the time-based retention policy of the blob's current version (Azure's version-level immutability; the
   * container must have it enabled). An unlocked policy may be moved either way or locked; a locked one only
   * extended: shortening or unlocking it is StorageError 'immutable'. A service without immutability (Azurite)
   * is StorageError 'not-supported'. Writing a protected blob does not change the protected version: Azure keeps
   * it as a previous version and the new current version carries no policy until one is set.
   */
  setImmutability(blobName: string, policy: ImmutabilityPolicy): Promise<void>;
  /** Removes an unlocked policy; a locked one is StorageError 'immutable'. */
  clearImmutability(blobName: string): Promise<void>;
  /** Sets or clears the legal hold of the current version (blocks its deletion until cleared, no expiry). */
  setLegalHold(blobName: string, hold: boolean): Promise<void>;
}
