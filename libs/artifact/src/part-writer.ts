import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Part } from '@tidemark/manifest';

export interface PartWriterOptions {
  /** Directory the part files go into (the backup's local directory). */
  dir: string;
  /** File name of part N (1-based). */
  fileName: (part: number) => string;
  partSize: number;
  /** Called once a part is complete and synced to disk; writing waits for it (so uploads are enqueued in order). */
  onPart: (part: Part) => Promise<void>;
}

/**
 * Splits a byte stream into part files of `partSize` bytes (mode 0600, never overwriting), computing each part's
 * sha256 and the whole artifact's. Memory stays at one chunk whatever the size of the dump.
 */
export class PartWriter extends Writable {
  readonly parts: Part[] = [];
  bytes = 0;
  private readonly whole: Hash = createHash('sha256');
  // Only for the blob's Content-MD5 (stock tools check it); the sha256 is what Tidemark trusts.
  private readonly wholeMd5: Hash = createHash('md5');
  private current: { index: number; file: string; handle: FileHandle; hash: Hash; size: number } | null =
    null;
  private digest: string | null = null;
  private md5Digest: string | null = null;

  constructor(private readonly options: PartWriterOptions) {
    super({ highWaterMark: 4 * 1024 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.writeChunks([chunk]).then(() => {
      done();
    }, done);
  }

  // Everything buffered while the previous write was on disk goes out in one writev: one syscall, not one per chunk.
  override _writev(chunks: { chunk: Buffer }[], done: (error?: Error | null) => void): void {
    this.writeChunks(chunks.map((c) => c.chunk)).then(() => {
      done();
    }, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    const finish = async (): Promise<void> => {
      if (this.current === null && this.parts.length === 0) await this.openPart();
      await this.closePart();
    };
    finish().then(() => {
      done();
    }, done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const handle = this.current?.handle;
    this.current = null;
    if (!handle) {
      done(error);
      return;
    }
    handle.close().then(
      () => {
        done(error);
      },
      () => {
        done(error);
      },
    );
  }

  sha256(): string {
    this.digest ??= this.whole.digest('hex');
    return this.digest;
  }

  /** The whole artifact's MD5, base64 (as Azure's Content-MD5); only once the stream has ended. */
  md5(): string {
    this.md5Digest ??= this.wholeMd5.digest('base64');
    return this.md5Digest;
  }

  private async writeChunks(chunks: Buffer[]): Promise<void> {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for (const chunk of chunks) {
      let offset = 0;
      while (offset < chunk.length) {
        const part = this.current ?? (await this.openPart());
        const take = Math.min(chunk.length - offset, this.options.partSize - part.size - pendingBytes);
        pending.push(chunk.subarray(offset, offset + take));
        pendingBytes += take;
        offset += take;
        if (part.size + pendingBytes >= this.options.partSize) {
          await this.flush(part, pending);
          pending = [];
          pendingBytes = 0;
          await this.closePart();
        }
      }
    }
    if (this.current && pending.length > 0) await this.flush(this.current, pending);
  }

  private async flush(part: NonNullable<PartWriter['current']>, buffers: Buffer[]): Promise<void> {
    await part.handle.writev(buffers);
    for (const buffer of buffers) {
      part.hash.update(buffer);
      this.whole.update(buffer);
      this.wholeMd5.update(buffer);
      part.size += buffer.length;
      this.bytes += buffer.length;
    }
  }

  private async openPart(): Promise<NonNullable<PartWriter['current']>> {
    const index = this.parts.length + 1;
    const file = this.options.fileName(index);
    const handle = await open(join(this.options.dir, file), 'wx', 0o600);
    this.current = { index, file, handle, hash: createHash('sha256'), size: 0 };
    return this.current;
  }

  private async closePart(): Promise<void> {
    const part = this.current;
    if (!part) return;
    this.current = null;
    // The uploader reads the file from another process: it must be on disk before anyone is told about it.
    await part.handle.sync();
    await part.handle.close();
    const closed: Part = {
      index: part.index,
      size: part.size,
      sha256: part.hash.digest('hex'),
      file: part.file,
    };
    this.parts.push(closed);
    await this.options.onPart(closed);
  }
}
