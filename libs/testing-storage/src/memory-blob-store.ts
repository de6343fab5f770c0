import type { AccessTier } from '@tidemark/manifest';
import {
  StorageError,
  type BlobDownload,
  type BlobListItem,
  type BlobProperties,
  type BlobStore,
  type CommitOptions,
  type ImmutabilityPolicy,
  type WriteCondition,
} from '@tidemark/storage';
import { Readable } from 'node:stream';

interface StoredBlob {
  data: Buffer;
  etag: string;
  metadata: Record<string, string>;
  tags: Record<string, string>;
  tier: string | undefined;
  lastModified: Date;
  contentType: string | undefined;
  immutability?: ImmutabilityPolicy;
  legalHold?: boolean;
}

export interface MemoryBlobStoreOptions {
  /**
   * `supported` (default): Azure's version-level immutability rules. `unsupported`: the immutability calls fail
   * with StorageError 'not-supported', as Azurite answers them (HTTP 501), and the container does not say whether
   * it has immutability. `disabled`: the same failures, from a container that says it has none.
   */
  immutability?: 'supported' | 'unsupported' | 'disabled';
  /** The clock that decides whether a policy has expired. */
  now?: () => Date;
}

/** The operations of the store, by name, for {@link MemoryBlobStore.failNext}. */
export type BlobOperation = Exclude<keyof BlobStore, 'container' | 'endpoint'>;

/**
 * A {@link BlobStore} in a Map, with Azure's semantics where the stages depend on them: staged blocks are
 * invisible until committed, a commit never overwrites, JSON writes honour `ifNoneMatch`/`ifMatch`, every write
 * changes the etag. Version-level immutability as Azure documents it: a version under an unexpired policy or a
 * legal hold cannot be deleted; a locked policy can only be extended; tags and tiers stay writable; writing over
 * a protected blob keeps the protected version (see {@link versions}) and makes a new, unprotected current one.
 * `failNext` makes the next calls of an operation fail (an outage, a conflict) so failure paths are tested
 * without Azurite.
 */
export class MemoryBlobStore implements BlobStore {
  readonly endpoint = 'memory://blob';
  private readonly blobs = new Map<string, StoredBlob>();
  private readonly staged = new Map<string, Map<string, Buffer>>();
  private readonly faults = new Map<BlobOperation, Error[]>();
  private readonly previous = new Map<string, StoredBlob[]>();
  private version = 0;
  private readonly immutability: 'supported' | 'unsupported' | 'disabled';
  private readonly now: () => Date;
  /** Every call, in order (`operation blobName`), for tests that check what a stage touched. */
  readonly calls: string[] = [];

  constructor(
    readonly container = 'memory',
    options: MemoryBlobStoreOptions = {},
  ) {
    this.immutability = options.immutability ?? 'supported';
    this.now = options.now ?? (() => new Date());
  }

  /** The previous versions of a blob kept because they were protected when written over, oldest first. */
  versions(blobName: string): { data: Buffer; immutability?: ImmutabilityPolicy; legalHold: boolean }[] {
    return (this.previous.get(blobName) ?? []).map((blob) => ({
      data: blob.data,
      ...(blob.immutability && { immutability: { ...blob.immutability } }),
      legalHold: blob.legalHold === true,
    }));
  }

  /** The next `times` calls of `operation` throw `error` (default: StorageError 'unavailable'). */
  failNext(operation: BlobOperation, times = 1, error?: Error): void {
    const queued = this.faults.get(operation) ?? [];
    for (let i = 0; i < times; i++)
      queued.push(error ?? new StorageError('unavailable', `memory blob store: ${operation} is unavailable`));
    this.faults.set(operation, queued);
  }

  /** The committed bytes of a blob, or undefined. */
  bytes(blobName: string): Buffer | undefined {
    return this.blobs.get(blobName)?.data;
  }

  /** Replaces a committed blob's bytes in place (bit rot, tampering) without changing its properties. */
  corrupt(blobName: string, change: (data: Buffer) => Buffer): void {
    const blob = this.required(blobName);
    blob.data = change(Buffer.from(blob.data));
  }

  names(): string[] {
    return [...this.blobs.keys()].sort();
  }

  ensureContainer(): Promise<void> {
    return this.call('ensureContainer', '', () => undefined);
  }

  ping(): Promise<void> {
    return this.call('ping', '', () => undefined);
  }

  versionImmutability(): Promise<boolean | null> {
    const answers = { supported: true, disabled: false, unsupported: null } as const;
    return this.call('versionImmutability', '', () => answers[this.immutability]);
  }

  stageBlock(blobName: string, blockId: string, data: Buffer): Promise<void> {
    return this.call('stageBlock', blobName, () => {
      const blocks = this.staged.get(blobName) ?? new Map<string, Buffer>();
      blocks.set(blockId, Buffer.from(data));
      this.staged.set(blobName, blocks);
    });
  }

  uncommittedBlockIds(blobName: string): Promise<Set<string>> {
    return this.call('uncommittedBlockIds', blobName, () => new Set(this.staged.get(blobName)?.keys() ?? []));
  }

  commitBlocks(blobName: string, blockIds: string[], options: CommitOptions): Promise<{ etag: string }> {
    return this.call('commitBlocks', blobName, () => {
      if (this.blobs.has(blobName)) throw new StorageError('exists', `${blobName} already exists`);
      const blocks = this.staged.get(blobName) ?? new Map<string, Buffer>();
      const parts = blockIds.map((id) => {
        const block = blocks.get(id);
        if (!block) throw new StorageError('unknown', `${blobName}: block ${id} is not staged`);
        return block;
      });
      this.staged.delete(blobName);
      const etag = this.nextEtag();
      this.blobs.set(blobName, {
        data: Buffer.concat(parts),
        etag,
        metadata: { ...options.metadata },
        tags: { ...options.tags },
        tier: options.tier,
        lastModified: new Date(),
        contentType: options.contentType,
      });
      return { etag };
    });
  }

  properties(blobName: string): Promise<BlobProperties | null> {
    return this.call('properties', blobName, () => {
      const blob = this.blobs.get(blobName);
      if (!blob) return null;
      return {
        etag: blob.etag,
        size: blob.data.length,
        metadata: { ...blob.metadata },
        tier: blob.tier,
        lastModified: blob.lastModified,
        ...(blob.immutability && { immutability: { ...blob.immutability } }),
        ...(blob.legalHold === true && { legalHold: true }),
      };
    });
  }

  tags(blobName: string): Promise<Record<string, string>> {
    return this.call('tags', blobName, () => ({ ...this.required(blobName).tags }));
  }

  setTags(blobName: string, tags: Record<string, string>): Promise<void> {
    return this.call('setTags', blobName, () => {
      this.required(blobName).tags = { ...tags };
    });
  }

  setTier(blobName: string, tier: AccessTier): Promise<void> {
    return this.call('setTier', blobName, () => {
      this.required(blobName).tier = tier;
    });
  }

  download(blobName: string): Promise<BlobDownload> {
    return this.call('download', blobName, () => {
      const blob = this.required(blobName);
      // 64 KiB chunks, as a network stream would deliver them.
      const chunks: Buffer[] = [];
      for (let at = 0; at < blob.data.length; at += 65536) chunks.push(blob.data.subarray(at, at + 65536));
      return { stream: Readable.from(chunks), size: blob.data.length, etag: blob.etag };
    });
  }

  readJson(blobName: string): Promise<{ value: unknown; etag: string } | null> {
    return this.call('readJson', blobName, () => {
      const blob = this.blobs.get(blobName);
      if (!blob) return null;
      try {
        return { value: JSON.parse(blob.data.toString('utf8')) as unknown, etag: blob.etag };
      } catch {
        throw new StorageError('integrity', `${blobName} in ${this.container} is not valid JSON`);
      }
    });
  }

  writeJson(
    blobName: string,
    value: unknown,
    condition: WriteCondition,
    options: { tags?: Record<string, string> } = {},
  ): Promise<{ etag: string }> {
    return this.call('writeJson', blobName, () => {
      const existing = this.blobs.get(blobName);
      if (condition !== 'overwrite' && 'ifNoneMatch' in condition && existing)
        throw new StorageError('exists', `${blobName} already exists`);
      if (condition !== 'overwrite' && 'ifMatch' in condition && existing?.etag !== condition.ifMatch)
        throw new StorageError('precondition', `${blobName} changed since it was read`);
      if (existing && this.isProtected(existing)) this.keepVersion(blobName, existing);
      const etag = this.nextEtag();
      this.blobs.set(blobName, {
        data: Buffer.from(JSON.stringify(value)),
        etag,
        metadata: existing?.metadata ?? {},
        tags: options.tags ? { ...options.tags } : (existing?.tags ?? {}),
        tier: existing?.tier ?? 'Hot',
        lastModified: new Date(),
        contentType: 'application/json',
      });
      return { etag };
    });
  }

  async *findByTag(key: string, value: string): AsyncIterable<string> {
    const names = await this.call('findByTag', `${key}=${value}`, () =>
      [...this.blobs.entries()]
        .filter(([, blob]) => blob.tags[key] === value)
        .map(([name]) => name)
        .sort(),
    );
    yield* names;
  }

  async *list(prefix: string): AsyncIterable<BlobListItem> {
    const items = await this.call('list', prefix, () =>
      [...this.blobs.entries()]
        .filter(([name]) => name.startsWith(prefix))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, blob]) => ({
          name,
          size: blob.data.length,
          lastModified: blob.lastModified,
          ...(blob.tier === undefined ? {} : { tier: blob.tier }),
        })),
    );
    yield* items;
  }

  async deleteMany(blobNames: readonly string[]): Promise<Map<string, StorageError>> {
    return this.call('deleteMany', blobNames.join(','), () => {
      const failures = new Map<string, StorageError>();
      for (const name of blobNames) {
        try {
          this.deleteNow(name, {});
        } catch (error) {
          if (!(error instanceof StorageError)) throw error;
          failures.set(name, error);
        }
      }
      return failures;
    });
  }

  delete(blobName: string, options: { ifMatch?: string } = {}): Promise<void> {
    return this.call('delete', blobName, () => {
      this.deleteNow(blobName, options);
    });
  }

  private deleteNow(blobName: string, options: { ifMatch?: string }): void {
    const blob = this.blobs.get(blobName);
    if (!blob) return;
    if (options.ifMatch !== undefined && blob.etag !== options.ifMatch)
      throw new StorageError('precondition', `${blobName} changed since it was read`);
    if (blob.legalHold === true)
      throw new StorageError('immutable', `${blobName} is under a legal hold (BlobImmutableDueToLegalHold)`);
    if (this.isProtected(blob))
      throw new StorageError(
        'immutable',
        `${blobName} is locked until ${blob.immutability?.until.toISOString()}`,
      );
    this.blobs.delete(blobName);
  }

  setImmutability(blobName: string, policy: ImmutabilityPolicy): Promise<void> {
    return this.call('setImmutability', blobName, () => {
      const blob = this.supportedOn(blobName);
      const current = blob.immutability;
      if (current?.mode === 'locked') {
        if (policy.mode !== 'locked')
          throw new StorageError('immutable', `${blobName}: a locked policy cannot be unlocked`);
        if (policy.until.getTime() < current.until.getTime())
          throw new StorageError('immutable', `${blobName}: a locked policy cannot be shortened`);
      }
      blob.immutability = { until: new Date(policy.until), mode: policy.mode };
    });
  }

  clearImmutability(blobName: string): Promise<void> {
    return this.call('clearImmutability', blobName, () => {
      const blob = this.supportedOn(blobName);
      if (blob.immutability?.mode === 'locked')
        throw new StorageError('immutable', `${blobName}: a locked policy cannot be removed`);
      delete blob.immutability;
    });
  }

  setLegalHold(blobName: string, hold: boolean): Promise<void> {
    return this.call('setLegalHold', blobName, () => {
      this.supportedOn(blobName).legalHold = hold;
    });
  }

  private supportedOn(blobName: string): StoredBlob {
    if (this.immutability !== 'supported')
      throw new StorageError(
        'not-supported',
        `memory blob store: immutability is not implemented (APINotImplemented)`,
      );
    return this.required(blobName);
  }

  private isProtected(blob: StoredBlob): boolean {
    if (blob.legalHold === true) return true;
    return blob.immutability !== undefined && blob.immutability.until.getTime() > this.now().getTime();
  }

  private keepVersion(blobName: string, blob: StoredBlob): void {
    this.previous.set(blobName, [...(this.previous.get(blobName) ?? []), blob]);
  }

  private async call<T>(operation: BlobOperation, blobName: string, run: () => T): Promise<T> {
    this.calls.push(`${operation} ${blobName}`);
    await Promise.resolve();
    const fault = this.faults.get(operation)?.shift();
    if (fault) throw fault;
    return run();
  }

  private required(blobName: string): StoredBlob {
    const blob = this.blobs.get(blobName);
    if (!blob) throw new StorageError('not-found', `${blobName} does not exist in ${this.container}`);
    return blob;
  }

  private nextEtag(): string {
    this.version += 1;
    return `"0x${this.version.toString(16).padStart(8, '0')}"`;
  }
}
