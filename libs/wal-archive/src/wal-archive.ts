import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressor } from '@tidemark/artifact';
import { AgeDecryptStream, EncryptionError } from '@tidemark/encryption';
import { mapLimit } from '@tidemark/concurrency';
import type { AccessTier } from '@tidemark/manifest';
import { type BlobStore, type ImmutabilityPolicy, isStorageError, StorageError } from '@tidemark/storage';
import {
  historyBlobName,
  parseWalBlobName,
  partialBlobName,
  readWalBlobMetadata,
  segmentBlobName,
  type Timeline,
  walBlobMetadata,
  type WalBlobMetadata,
  type WalFileKind,
  walPrefix,
} from '@tidemark/wal';
import { checkContinuity, type ContinuityOptions, type ContinuityReport } from './continuity';
import { WalArchiveError } from './wal-archive-error';
import { hashFile, HashingTap, stageCompressed } from './streams';

export type WalRoute = 'stream' | 'spool';

export interface WalArchiveOptions {
  /** The tier new WAL blobs are written in. */
  tier?: AccessTier;
  /** Age identities to read encrypted (`.zst.age`) files with; without them such a file fails with key-missing. */
  identities?: readonly string[];
}

export interface CommitSegmentInput {
  targetId: string;
  timeline: Timeline;
  /** The segment's file name, e.g. `000000010000000000000003`. */
  file: string;
  /** The raw segment on local disk. */
  path: string;
  receivedAt: Date;
  route: WalRoute;
  /** The target's policy's age recipients: the segment is stored encrypted to them (`.zst.age`). */
  recipients?: readonly string[] | undefined;
  /**
   * The version-level lock the committed file gets (storage.immutability on, see walProtection); set again when
   * the file turns out to be there already, so a retry after a failed lock completes it.
   */
  protection?: ImmutabilityPolicy | undefined;
}

/** History files hold only timeline switch points, no data, and are stored plain (DESIGN §10). */
export type CommitHistoryInput = Omit<CommitSegmentInput, 'file' | 'recipients'>;

/** A partial is replaced as its segment fills, so it is never locked. */
export interface ShipPartialInput extends Omit<CommitSegmentInput, 'protection'> {
  /** The LSN up to which the shipped bytes hold WAL (`X/Y`). */
  endLsn?: string;
}

export interface CommitResult {
  /** `duplicate`: the same bytes were archived before (a retry, or both routes delivered the file). */
  result: 'archived' | 'duplicate';
  rawBytes: number;
  compressedBytes: number;
  sha256: string;
}

export interface ArchivedWalFile {
  blobName: string;
  timeline: Timeline;
  file: string;
  kind: WalFileKind;
  /** Stored age-encrypted (`.zst.age`). */
  encrypted: boolean;
  /** null: the blob was not written by Tidemark (missing or malformed metadata). */
  metadata: WalBlobMetadata | null;
  compressedBytes: number;
  tier: string | undefined;
  lastModified: Date;
  /** The blob's time-based lock, when it has one (expired ones included). */
  immutability?: ImmutabilityPolicy;
  legalHold?: boolean;
}

/** Parallel metadata reads while listing; enough to hide latency without flooding the account. */
const PROPERTIES_CONCURRENCY = 8;

/** Owns `<targetId>/wal/` in Blob Storage: writes segments once, replaces partials, reads files back checked. */
export class WalArchive {
  private readonly tier: AccessTier;
  private readonly identities: readonly string[];

  constructor(
    private readonly store: BlobStore,
    options: WalArchiveOptions = {},
  ) {
    this.tier = options.tier ?? 'Cool';
    this.identities = options.identities ?? [];
  }

  /**
   * A segment is written once, plain or encrypted as its target's policy says now; the same file already there in
   * the other form (the policy changed) counts as the file, so no segment is ever stored twice with two contents.
   */
  commitSegment(input: CommitSegmentInput): Promise<CommitResult> {
    const encrypted = input.recipients !== undefined;
    const blobName = segmentBlobName(input.targetId, input.timeline, input.file, encrypted);
    const otherForm = segmentBlobName(input.targetId, input.timeline, input.file, !encrypted);
    return this.commitOnce(blobName, input, otherForm);
  }

  /** History files never change once written: different bytes under the same name are a conflict. */
  commitHistory(input: CommitHistoryInput): Promise<CommitResult> {
    return this.commitOnce(historyBlobName(input.targetId, input.timeline), input);
  }

  /**
   * Replaces the partial of the segment being filled. commitBlocks never overwrites, so the old partial is
   * deleted (only if it is still the one read) and the new one committed right after: a reader sees the old
   * partial, no partial for that short window, or the new one, never a torn mix. Staging happens after the delete
   * because deleting a blob also drops its uncommitted blocks.
   */
  async shipPartial(input: ShipPartialInput): Promise<CommitResult> {
    const encrypted = input.recipients !== undefined;
    const blobName = partialBlobName(input.targetId, input.timeline, input.file, encrypted);
    return this.storageCall(blobName, async () => {
      const existing = await this.store.properties(blobName);
      if (existing) await this.store.delete(blobName, { ifMatch: existing.etag });
      // A partial of the other form (the policy changed) is as stale as the one replaced.
      await this.store.delete(partialBlobName(input.targetId, input.timeline, input.file, !encrypted));
      const staged = await stageCompressed(this.store, blobName, input.path, input.recipients);
      await this.store.commitBlocks(blobName, staged.blockIds, {
        metadata: this.metadataFor(input, staged),
        tags: {},
        tier: this.tier,
      });
      return { result: 'archived', ...this.sizes(staged) };
    });
  }

  /** Drops the partial once its segment is archived complete; an absent partial is fine. */
  async removePartial(targetId: string, timeline: Timeline, file: string): Promise<void> {
    for (const encrypted of [false, true]) {
      const blobName = partialBlobName(targetId, timeline, file, encrypted);
      await this.storageCall(blobName, () => this.store.delete(blobName));
    }
  }

  /**
   * The newest complete segment (highest timeline, then highest segment), where the archiver resumes streaming;
   * null when the archive holds none.
   */
  async newestSegment(targetId: string): Promise<{ timeline: Timeline; file: string } | null> {
    const segments = (await this.list(targetId)).filter((file) => file.kind === 'segment');
    const newest = segments.at(-1);
    return newest ? { timeline: newest.timeline, file: newest.file } : null;
  }

  /** Every blob under the target's WAL directory that has a WAL name, sorted by timeline then file. */
  async list(targetId: string): Promise<ArchivedWalFile[]> {
    const prefix = walPrefix(targetId);
    const items = await this.storageCall(prefix, async () => {
      const found = [];
      for await (const item of this.store.list(prefix)) {
        const parsed = parseWalBlobName(item.name);
        if (parsed?.targetId === targetId) found.push({ item, parsed });
      }
      return found;
    });
    const files = await mapLimit(items, PROPERTIES_CONCURRENCY, async ({ item, parsed }) => {
      const props = await this.storageCall(item.name, () => this.store.properties(item.name));
      return {
        blobName: item.name,
        timeline: parsed.timeline,
        file: parsed.file,
        kind: parsed.kind,
        encrypted: parsed.encrypted,
        metadata: props ? readWalBlobMetadata(props.metadata) : null,
        compressedBytes: item.size,
        tier: props?.tier ?? item.tier,
        lastModified: props?.lastModified ?? item.lastModified,
        ...(props?.immutability && { immutability: props.immutability }),
        ...(props?.legalHold && { legalHold: true }),
      };
    });
    return files.sort(compareFiles);
  }

  /**
   * Downloads, decompresses and checks a file against its metadata, writing beside `destPath` and renaming into
   * place only when size and sha256 match: a partly written or corrupt file never appears at `destPath`.
   */
  async fetch(file: ArchivedWalFile, destPath: string): Promise<void> {
    const expected = this.expectedMetadata(file);
    const temp = join(dirname(destPath), `.${basename(destPath)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const actual = await this.downloadRaw(file, createWriteStream(temp));
      checkAgainst(file.blobName, expected, actual);
      await rename(temp, destPath);
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** Downloads and hashes a file without keeping it; throws like fetch. */
  async verify(file: ArchivedWalFile): Promise<void> {
    const expected = this.expectedMetadata(file);
    const sink = new Writable({
      write: (_chunk, _encoding, done) => {
        done();
      },
    });
    checkAgainst(file.blobName, expected, await this.downloadRaw(file, sink));
  }

  /** The decompressed text of a (small) file such as a timeline history, checked against its metadata. */
  async readText(file: ArchivedWalFile): Promise<string> {
    const expected = this.expectedMetadata(file);
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        chunks.push(chunk);
        done();
      },
    });
    checkAgainst(file.blobName, expected, await this.downloadRaw(file, sink));
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Walks the archive from `from` to the newest segment and reports every gap; see continuity.ts. */
  checkContinuity(
    targetId: string,
    from: { timeline: Timeline; lsn: string },
    options?: ContinuityOptions,
  ): Promise<ContinuityReport> {
    return checkContinuity(this, targetId, from, options);
  }

  private expectedMetadata(file: ArchivedWalFile): WalBlobMetadata {
    if (!file.metadata)
      throw new WalArchiveError(
        'checksum-mismatch',
        `${file.blobName} has no Tidemark metadata to check against`,
      );
    return file.metadata;
  }

  private async downloadRaw(
    file: Pick<ArchivedWalFile, 'blobName' | 'encrypted'>,
    sink: Writable,
  ): Promise<{ sha256: string; size: number }> {
    const { blobName } = file;
    const download = await this.storageCall(blobName, () => this.store.download(blobName));
    const tap = new HashingTap();
    const decrypt = file.encrypted ? new AgeDecryptStream(this.identities) : new PassThrough();
    try {
      await pipeline(download.stream, decrypt, createDecompressor('zstd'), tap, sink);
    } catch (error) {
      if (isStorageError(error)) throw toArchiveError(blobName, error);
      // Without the right identity nothing is known about the bytes: not a checksum finding.
      if (error instanceof EncryptionError && error.code !== 'decrypt-failed') {
        throw new WalArchiveError(
          error.code === 'key-mismatch' ? 'key-mismatch' : 'key-missing',
          `${blobName}: ${error.message}`,
        );
      }
      // A corrupt zstd frame (its own checksum or structure) is the same finding as a wrong sha256.
      throw new WalArchiveError('checksum-mismatch', `${blobName} does not decompress: ${describe(error)}`, {
        cause: error,
      });
    }
    return { sha256: tap.hash.digest('hex'), size: tap.bytes };
  }

  /** Writes a blob that must never change: an existing blob is a duplicate when its sha256 is ours, else a conflict. */
  private async commitOnce(
    blobName: string,
    input: CommitHistoryInput & { endLsn?: string; recipients?: readonly string[] | undefined },
    otherForm?: string,
  ): Promise<CommitResult> {
    return this.storageCall(blobName, async () => {
      const { name, result, held } = await this.writeOnce(blobName, input, otherForm);
      if (input.protection) await this.lock(name, input.protection, held);
      return result;
    });
  }

  private async writeOnce(
    blobName: string,
    input: CommitHistoryInput & { endLsn?: string; recipients?: readonly string[] | undefined },
    otherForm?: string,
  ): Promise<{ name: string; result: CommitResult; held?: ImmutabilityPolicy | undefined }> {
    for (const name of otherForm ? [blobName, otherForm] : [blobName]) {
      const existing = await this.store.properties(name);
      if (existing)
        return {
          name,
          result: await this.compareExisting(name, existing.metadata, existing.size, input.path),
          held: existing.immutability,
        };
    }
    const staged = await stageCompressed(this.store, blobName, input.path, input.recipients);
    try {
      await this.store.commitBlocks(blobName, staged.blockIds, {
        metadata: this.metadataFor(input, staged),
        tags: {},
        tier: this.tier,
      });
    } catch (error) {
      // Another archiver (the other route) committed between our check and our commit.
      if (!isStorageError(error) || error.code !== 'exists') throw error;
      const raced = await this.store.properties(blobName);
      if (!raced) throw error;
      return {
        name: blobName,
        result: await this.compareExisting(blobName, raced.metadata, raced.size, input.path),
        held: raced.immutability,
      };
    }
    return { name: blobName, result: { result: 'archived', ...this.sizes(staged) } };
  }

  /**
   * Sets the file's lock unless the one it `held` already lasts as long (an unlocked one could be shortened, so
   * a retry received earlier than the first delivery never shortens it). A locked one Azure refuses to shorten
   * ('immutable') is enough too; one that would already have run out protects nothing and is not set (Azure
   * takes no expiry in the past).
   */
  private async lock(
    blobName: string,
    protection: ImmutabilityPolicy,
    held: ImmutabilityPolicy | undefined,
  ): Promise<void> {
    if (protection.until.getTime() <= Date.now()) return;
    if (held && held.until.getTime() >= protection.until.getTime()) return;
    try {
      await this.store.setImmutability(blobName, protection);
    } catch (error) {
      if (!isStorageError(error)) throw error;
      if (error.code === 'immutable') return;
      if (error.code === 'not-supported') {
        throw new StorageError(
          'not-supported',
          `storage.immutability is set, but ${this.store.endpoint} does not implement version-level immutability (Azurite does not): ${blobName} could not be locked; enable version-level immutability on container ${this.store.container} in Azure, or remove the setting`,
        );
      }
      throw error;
    }
  }

  private async compareExisting(
    blobName: string,
    metadata: Record<string, string>,
    compressedBytes: number,
    path: string,
  ): Promise<CommitResult> {
    const ours = await hashFile(path);
    const theirs = readWalBlobMetadata(metadata);
    if (theirs?.sha256 !== ours.sha256) {
      const what = theirs ? `sha256 ${theirs.sha256.slice(0, 12)}…` : 'no Tidemark metadata';
      throw new WalArchiveError(
        'conflict',
        `${blobName} already exists with other bytes (${what}, ours ${ours.sha256.slice(0, 12)}…); not overwritten`,
      );
    }
    return { result: 'duplicate', rawBytes: ours.size, compressedBytes, sha256: ours.sha256 };
  }

  private metadataFor(
    input: CommitHistoryInput & { endLsn?: string },
    staged: { sha256: string; rawBytes: number },
  ): Record<string, string> {
    return walBlobMetadata({
      sha256: staged.sha256,
      size: staged.rawBytes,
      receivedat: input.receivedAt.toISOString(),
      timeline: input.timeline,
      ...(input.endLsn === undefined ? {} : { endlsn: input.endLsn }),
      route: input.route,
    });
  }

  private sizes(staged: { rawBytes: number; compressedBytes: number; sha256: string }) {
    return { rawBytes: staged.rawBytes, compressedBytes: staged.compressedBytes, sha256: staged.sha256 };
  }

  /** Maps StorageError to WalArchiveError; WalArchiveErrors and local file errors pass through. */
  private async storageCall<T>(blobName: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (isStorageError(error)) throw toArchiveError(blobName, error);
      throw error;
    }
  }
}

function toArchiveError(blobName: string, error: { code: string; message: string }): WalArchiveError {
  if (error.code === 'not-found') return new WalArchiveError('missing', `${blobName} is not in the archive`);
  return new WalArchiveError('storage', `${blobName}: ${error.message}`, { cause: error });
}

function checkAgainst(
  blobName: string,
  expected: WalBlobMetadata,
  actual: { sha256: string; size: number },
): void {
  if (actual.sha256 !== expected.sha256 || actual.size !== expected.size) {
    throw new WalArchiveError(
      'checksum-mismatch',
      `${blobName} decompresses to ${actual.size} bytes with sha256 ${actual.sha256.slice(0, 12)}…, its metadata says ${expected.size} bytes ${expected.sha256.slice(0, 12)}…`,
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}

export function compareFiles(a: ArchivedWalFile, b: ArchivedWalFile): number {
  return (
    a.timeline - b.timeline || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || kindOrder(a) - kindOrder(b)
  );
}

function kindOrder(file: ArchivedWalFile): number {
  return file.kind === 'segment' ? 0 : file.kind === 'partial' ? 1 : 2;
}
