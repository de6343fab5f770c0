import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback, type Writable } from 'node:stream';

/** Passes bytes through unchanged while counting them and computing their sha256. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private digest: string | null = null;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  /** The hex digest; only once the stream has ended. */
  sha256(): string {
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}

/** Counts bytes passing through (the raw dump size before compression). */
export class CountingStream extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/**
 * Holds back the last chunk until the whole stream's sha256 is known: on a mismatch the consumer never receives
 * the end of the data and the stream fails, so a restore reading it (in one transaction) commits nothing.
 */
export class VerifiedStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private held: Buffer | null = null;
  bytes = 0;

  constructor(private readonly expectedSha256: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    const previous = this.held;
    this.held = chunk;
    done(null, previous ?? undefined);
  }

  override _flush(done: TransformCallback): void {
    const actual = this.hash.digest('hex');
    if (actual !== this.expectedSha256) {
      done(new ChecksumMismatchError(this.expectedSha256, actual, this.bytes));
      return;
    }
    done(null, this.held ?? undefined);
  }
}

export class ChecksumMismatchError extends Error {
  readonly code = 'checksum-mismatch';
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly bytes: number,
  ) {
    super(`checksum mismatch after ${bytes} bytes: expected sha256 ${expected}, got ${actual}`);
  }
}

/**
 * Feeds `source` into `sink` while hashing every byte of the source. If the sink fails (say a decompressor meets
 * damaged data) the source is still read to its end, so the checksum always covers the whole blob. When the sink
 * is the first of linked steps (decrypt, then decompress), `last` is the final one: its errors count too, and the
 * verdict waits for it to finish.
 */
export async function hashWhileFeeding(
  source: AsyncIterable<Buffer>,
  sink: Writable,
  last: Writable = sink,
): Promise<{ sha256: string; bytes: number; sinkError: Error | null }> {
  const hash = createHash('sha256');
  let bytes = 0;
  // An object, not a local, because the error arrives from an event callback.
  const state: { sinkError: Error | null } = { sinkError: null };
  for (const stream of new Set([sink, last])) {
    stream.on('error', (error: Error) => {
      state.sinkError ??= error;
    });
  }
  for await (const chunk of source) {
    hash.update(chunk);
    bytes += chunk.length;
    if (state.sinkError === null && !sink.destroyed && !sink.write(chunk)) await drained(sink);
  }
  if (state.sinkError === null && !sink.destroyed) {
    sink.end();
    // A decompressor reports a damaged tail only while flushing: wait for the verdict.
    await settled(last);
  }
  return { sha256: hash.digest('hex'), bytes, sinkError: state.sinkError };
}

function settled(stream: Writable): Promise<void> {
  return waitFor(stream, 'finish');
}

function drained(stream: Writable): Promise<void> {
  return waitFor(stream, 'drain');
}

function waitFor(stream: Writable, event: 'drain' | 'finish'): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off(event, done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.once(event, done);
    stream.once('error', done);
    stream.once('close', done);
  });
}

/**
 * Joins small chunks (a child's stdout arrives in 64 KiB pipe reads) into chunks of at least `bytes`: every write
 * to a node:zlib compressor is a round trip to the thread pool, and zstd level 1 over 64 KiB writes took twice the
 * CPU of 1 MiB ones (a 337 MB base backup tar: 1.24 s against 0.58 s). One copy of each chunk, no more.
 */
export class BatchingStream extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly bytes = 1024 * 1024) {
    super({ highWaterMark: bytes });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    done(null, this.pendingBytes >= this.bytes ? this.joined() : undefined);
  }

  override _flush(done: TransformCallback): void {
    done(null, this.pendingBytes > 0 ? this.joined() : undefined);
  }

  private joined(): Buffer {
    const whole =
      this.pending.length === 1 && this.pending[0]
        ? this.pending[0]
        : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return whole;
  }
}
