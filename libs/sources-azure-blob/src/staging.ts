import { randomBytes } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { stageBlock } from '@tidemark/azure-blob-sdk';

/** Bytes of a staged block; larger blobs get larger blocks so they stay under Azure's 50,000 blocks. */
const BLOCK_SIZE = 4 * 1024 * 1024;
const MAX_BLOCKS = 50_000;
/** Block bytes held in memory while their upload is in flight, across all blobs of a restore. */
export const STAGING_BUDGET = 64 * 1024 * 1024;
/** Concurrent block uploads: enough to hide request latency for small blobs without flooding the account. */
const MAX_REQUESTS = 16;

export function blockSizeFor(size: number): number {
  const needed = Math.ceil(size / MAX_BLOCKS);
  const mib = 1024 * 1024;
  return Math.max(BLOCK_SIZE, Math.ceil(needed / mib) * mib);
}

/**
 * Uploads blocks (each with its MD5) as uncommitted blocks: invisible until a later commit, so a restore can check every blob before
 * any of them appears. At most `budget` bytes are in flight; `stage` returns once its block is on its way.
 */
export class BlockStager {
  private inFlight = 0;
  private requests = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly pending = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  /** Same length for every run: Azure wants all block ids of a blob equally long, staged ones included. */
  private readonly run = randomBytes(4).toString('hex');

  constructor(
    private readonly client: ContainerClient,
    private readonly budget = STAGING_BUDGET,
  ) {}

  blockId(index: number): string {
    return Buffer.from(`tm${this.run}${String(index).padStart(6, '0')}`).toString('base64');
  }

  /** Queues one block of `blobName`; rejects with the first upload failure seen so far. */
  async stage(blobName: string, index: number, data: Buffer): Promise<void> {
    this.throwIfFailed();
    await this.reserve(data.length);
    this.throwIfFailed();
    // libs/storage's stager: every block goes with its MD5, as the backup store's blocks do.
    const upload = stageBlock(this.client.getBlockBlobClient(blobName), this.blockId(index), data)
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.pending.delete(upload);
        this.release(data.length);
      });
    this.pending.add(upload);
  }

  /** Waits for every queued block; rejects with the first failure. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  private async reserve(bytes: number): Promise<void> {
    // A single block larger than the budget still goes, alone.
    while (this.inFlight > 0 && (this.inFlight + bytes > this.budget || this.requests >= MAX_REQUESTS)) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.inFlight += bytes;
    this.requests++;
  }

  private release(bytes: number): void {
    this.inFlight -= bytes;
    this.requests--;
    for (const wake of this.waiting.splice(0)) wake();
  }
}
