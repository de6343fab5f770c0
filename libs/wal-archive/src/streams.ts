import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressor } from '@tidemark/artifact';
import { AgeEncryptStream } from '@tidemark/encryption';
import type { BlobStore } from '@tidemark/storage';

/**
 * Bytes per staged block of compressed WAL. A 16 MiB segment compresses to one block or a few; the bound keeps
 * memory at one block whatever the segment size.
 */
export const WAL_BLOCK_SIZE = 4 * 1024 * 1024;

/** Fixed-length ids (the service requires one length per blob), the same on every attempt, so a retry re-stages. */
export function walBlockId(block: number): string {
  return Buffer.from(`wal-b${String(block).padStart(6, '0')}`).toString('base64');
}

/** A pass-through that hashes and counts what flows through it. */
export class HashingTap extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

export interface StagedFile {
  blockIds: string[];
  rawBytes: number;
  compressedBytes: number;
  sha256: string;
}

/**
 * Streams `path` through zstd (and age, to `recipients`) into staged blocks of at most WAL_BLOCK_SIZE, hashing
 * the raw bytes on the way.
 */
export async function stageCompressed(
  store: BlobStore,
  blobName: string,
  path: string,
  recipients?: readonly string[],
): Promise<StagedFile> {
  const tap = new HashingTap();
  const blockIds: string[] = [];
  let compressedBytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    const id = walBlockId(blockIds.length);
    await store.stageBlock(blobName, id, Buffer.concat(pending, pendingBytes));
    blockIds.push(id);
    compressedBytes += pendingBytes;
    pending = [];
    pendingBytes = 0;
  };
  await pipeline(
    createReadStream(path),
    tap,
    createCompressor('zstd'),
    recipients ? new AgeEncryptStream(recipients) : new PassThrough(),
    async function (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        let rest = chunk;
        while (rest.length > 0) {
          const take = Math.min(rest.length, WAL_BLOCK_SIZE - pendingBytes);
          pending.push(rest.subarray(0, take));
          pendingBytes += take;
          rest = rest.subarray(take);
          if (pendingBytes === WAL_BLOCK_SIZE) await flush();
        }
      }
      if (pendingBytes > 0 || blockIds.length === 0) await flush();
    },
  );
  return { blockIds, rawBytes: tap.bytes, compressedBytes, sha256: tap.hash.digest('hex') };
}
