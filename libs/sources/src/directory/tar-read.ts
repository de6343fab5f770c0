import type { Readable } from 'node:stream';
import tar, { type Extract, type Header } from 'tar-stream';

/** One member as the parser hands it over: its header and a stream of its body. */
export type TarEntry = Extract extends AsyncIterable<infer T> ? T : never;

/** The tar itself is malformed or cut short (as opposed to the input stream failing). */
export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

export interface ReadTarOptions {
  /** Keep reading the input to its end after a format error (a caller may be hashing the same bytes). */
  drainOnError: boolean;
}

const BLOCK = 512;
const END_OF_ARCHIVE = 2 * BLOCK;

/**
 * Parses a tar to its end, handing every member to `onEntry`, which must consume the member's body. Rejects with
 * TarFormatError for a malformed or truncated archive (including one whose end-of-archive blocks are missing), with
 * the input's own error when the input fails, and with `onEntry`'s error when that throws. Returns the member count.
 */
export async function readTar(
  input: Readable,
  onEntry: (entry: TarEntry) => Promise<void>,
  options: ReadTarOptions,
): Promise<number> {
  const extract = tar.extract();
  const tail = new TailWatch();
  const feeding = feed(input, extract, tail, options.drainOnError);
  let members = 0;
  let endOfLastMember = 0;
  let failure: Error | undefined;
  try {
    for await (const entry of extract) {
      members++;
      await onEntry(entry);
      endOfLastMember = memberEnd(entry.header);
    }
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
    extract.destroy();
  }
  const inputError = await feeding;
  if (inputError !== undefined) throw inputError;
  if (failure !== undefined) {
    if (isParseError(failure)) throw new TarFormatError(failure.message);
    throw failure;
  }
  if (!tail.endsWithZeros(endOfLastMember)) {
    throw new TarFormatError('the archive has no end-of-archive marker (truncated)');
  }
  return members;
}

/** Errors tar-stream raises about the archive's bytes, not about the input or our own handling. */
function isParseError(err: Error): boolean {
  return /Invalid tar header|Unexpected end of data|Header exceeds max size|Invalid header|unknown format/i.test(
    err.message,
  );
}

function memberEnd(header: Header): number {
  // tar-stream records where the member's data starts, though its types do not say so.
  const start = (header as Header & { byteOffset?: number }).byteOffset ?? 0;
  const size = header.type === 'file' || header.type === 'contiguous-file' ? header.size : 0;
  return start + Math.ceil(size / BLOCK) * BLOCK;
}

/** Feeds the input into the parser with backpressure; resolves with the input's error, if it failed. */
async function feed(
  input: Readable,
  extract: Extract,
  tail: TailWatch,
  drainOnError: boolean,
): Promise<Error | undefined> {
  let open = true;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      tail.observe(chunk);
      if (open && (extract.destroyed || !extract.write(chunk))) open = await drained(extract);
      if (!open && !drainOnError) {
        input.destroy();
        return undefined;
      }
    }
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    extract.destroy(error);
    return error;
  }
  if (open) extract.end(undefined);
  return undefined;
}

/** Waits until the parser takes more input; false when it has gone (failed or was stopped). */
function drained(extract: Extract): Promise<boolean> {
  if (extract.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (): void => {
      extract.off('drain', done);
      extract.off('close', gone);
      resolve(true);
    };
    const gone = (): void => {
      extract.off('drain', done);
      extract.off('close', gone);
      resolve(false);
    };
    extract.on('drain', done);
    extract.on('close', gone);
  });
}

/** Tracks the stream's length and its last non-zero byte, to check the zero blocks that end an archive. */
class TailWatch {
  private total = 0;
  private lastNonZero = -1;

  observe(chunk: Buffer): void {
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (chunk[i] !== 0) {
        this.lastNonZero = this.total + i;
        break;
      }
    }
    this.total += chunk.length;
  }

  /** At least two zero blocks after the last member's data, and nothing but zeros there. */
  endsWithZeros(endOfLastMember: number): boolean {
    return this.total - endOfLastMember >= END_OF_ARCHIVE && this.lastNonZero < endOfLastMember;
  }
}
