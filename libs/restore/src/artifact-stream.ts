import { ChecksumMismatchError, VerifiedStream } from '@tidemark/artifact';
import { ChainError } from '@tidemark/catalog';
import { EncryptionError, unpackSteps } from '@tidemark/encryption';
import type { Manifest } from '@tidemark/manifest';
import type { BlobStore } from '@tidemark/storage';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export class RestoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A backup's blob being read: its size, and one way to feed its checked, decompressed bytes to a consumer. */
export interface ArtifactDownload {
  size: number;
  /**
   * Streams the blob through its sha256 check and decompression into `consume`. If the checksum fails the input
   * is destroyed before its end, so the consumer fails too; if the consumer fails first the download is torn
   * down instead of stalling with nobody reading. A checksum mismatch wins over the consumer's own error.
   */
  feed<T>(consume: (input: Readable) => Promise<T>, options?: FeedOptions): Promise<T>;
}

export interface FeedOptions {
  /** Hand the consumer the checked (and decrypted) bytes still compressed (a source that unpacks them itself). */
  packed?: boolean;
}

/** Opens the backup's blob; `count` hears every stored byte read; `identities` decrypt an encrypted one. */
export async function openArtifact(
  store: BlobStore,
  manifest: Manifest,
  count: (bytes: number) => void,
  identities: readonly string[] = [],
): Promise<ArtifactDownload> {
  const remote = manifest.locations.remote;
  const sha256 = manifest.artifact.sha256;
  if (!remote || !sha256)
    throw new RestoreError('not-restorable', `backup ${manifest.backupId} has no artifact in Blob Storage`);
  const download = await store.download(remote.blobName);
  return {
    size: download.size,
    feed: async <T>(consume: (input: Readable) => Promise<T>, options: FeedOptions = {}): Promise<T> => {
      const progress = new Transform({
        transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
          count(chunk.length);
          done(null, chunk);
        },
      });
      const input = new PassThrough();
      const feeding = pipeline(
        download.stream,
        progress,
        new VerifiedStream(sha256),
        ...unpackSteps(manifest.artifact, identities, { packed: options.packed === true }),
        input,
      );
      const consuming = consume(input).catch((error: unknown) => {
        input.destroy();
        throw error;
      });
      const [feed, consumed] = await Promise.allSettled([feeding, consuming]);
      // A damaged blob, or one no configured identity opens, says more than the consumer's broken input.
      if (feed.status === 'rejected' && isAboutTheBlob(feed.reason)) throw feed.reason;
      if (consumed.status === 'rejected') throw asRestoreError(consumed.reason);
      if (feed.status === 'rejected') throw asRestoreError(feed.reason);
      return consumed.value;
    },
  };
}

function isAboutTheBlob(error: unknown): boolean {
  return (
    error instanceof ChecksumMismatchError ||
    (error instanceof EncryptionError && error.code !== 'decrypt-failed')
  );
}

/** Errors with a stable code pass as they are; anything else becomes a 'restore-failed' RestoreError. */
export function asRestoreError(error: unknown): Error {
  if (error instanceof ChainError) return new RestoreError(error.code, error.message);
  if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') return error;
  return new RestoreError('restore-failed', error instanceof Error ? error.message : String(error));
}
