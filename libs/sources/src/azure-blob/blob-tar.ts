import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { BlobHeaders, ListedBlob } from './listing';

/** A header as tar-stream writes it; `pax` records go into a pax extended header before the entry. */
export type TarHeader = Partial<tar.Header> & { name: string; pax?: Record<string, string> };

/** A tar-stream writable: an entry being written, or the parser. */
type TarWritable = ReturnType<tar.Pack['entry']> | tar.Extract;

/**
 * A blob's headers and metadata, restored with it, travel as pax records of its tar entry. They are named as
 * user extended attributes (the SCHILY.xattr namespace GNU tar and bsdtar know), so stock tar extracts the
 * files without warnings about unknown keywords, and `tar --xattrs` even keeps them.
 */
const PAX_PREFIX = 'SCHILY.xattr.user.azure.';
const META_PREFIX = `${PAX_PREFIX}meta.`;
/** Two zero blocks end every tar. */
const END_MARKER = 1024;
const HEADER_KEYS = ['contentEncoding', 'contentLanguage', 'contentDisposition', 'cacheControl'] as const;

/** The tar header of a blob: named by the blob, pax whenever a plain ustar name could mangle it. */
export function entryHeader(blob: ListedBlob): TarHeader {
  const pax: Record<string, string> = {};
  for (const key of HEADER_KEYS) {
    const value = blob.headers[key];
    if (value !== undefined) pax[`${PAX_PREFIX}${key}`] = value;
  }
  for (const [key, value] of Object.entries(blob.metadata)) pax[`${META_PREFIX}${key}`] = value;
  const header: TarHeader = {
    name: blob.name,
    type: 'file',
    size: blob.size,
    mode: 0o644,
    mtime: blob.lastModified,
  };
  // ustar splits long names at a '/', which loses leading or doubled slashes, and a trailing '/' reads back as a
  // directory; a pax `path` keeps any blob name exactly (the empty object just forces the pax header).
  if (Object.keys(pax).length > 0 || needsPaxPath(blob.name)) header.pax = pax;
  return header;
}

function needsPaxPath(name: string): boolean {
  return Buffer.byteLength(name) !== name.length || name.length > 100 || name.endsWith('/');
}

/** The headers and metadata a restored blob gets back from its entry's pax records. */
export function attributesFromPax(pax: Record<string, string>): {
  headers: BlobHeaders;
  metadata: Record<string, string>;
} {
  const headers: BlobHeaders = {};
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(META_PREFIX)) {
      metadata[key.slice(META_PREFIX.length)] = value;
      continue;
    }
    const name = key.slice(PAX_PREFIX.length);
    for (const known of HEADER_KEYS) if (key.startsWith(PAX_PREFIX) && name === known) headers[known] = value;
  }
  return { headers, metadata };
}

/** The input is not a (whole) tar: as opposed to a failure of the input stream or of the visitor. */
export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

export interface TarEntry {
  name: string;
  type: tar.Header['type'];
  size: number;
  /** The entry's pax records (vendor ones included), empty when it had none. */
  pax: Record<string, string>;
  body: AsyncIterable<Buffer>;
}

/**
 * Parses `input` as a tar and hands each entry to `visit`, which may read its body (whatever it leaves unread is
 * skipped). Resolves with the number of entries. On a parse or visit error, `onError` says what happens to the
 * rest of `input`: 'drain' reads it to its end (a caller may be hashing it), 'destroy' stops it. A failure of
 * `input` itself is what rejects then.
 */
export async function readTar(
  input: Readable,
  visit: (entry: TarEntry) => Promise<void>,
  onError: 'drain' | 'destroy',
): Promise<number> {
  const extract = tar.extract();
  const state: { stopped: boolean; inputFailure?: { failure: unknown } } = { stopped: false };
  const feeding = (async () => {
    let tail: Buffer = Buffer.alloc(0);
    for await (const chunk of input as AsyncIterable<Buffer>) {
      // After a failure the rest is still read (in 'drain' mode), just not parsed.
      if (state.stopped || extract.destroying) continue;
      tail =
        chunk.length >= END_MARKER
          ? chunk.subarray(-END_MARKER)
          : Buffer.concat([tail, chunk]).subarray(-END_MARKER);
      if (!extract.write(chunk)) await drained(extract);
    }
    if (state.stopped || extract.destroying) return;
    // A tar cut off exactly between two entries parses cleanly; only the end-of-archive blocks prove it whole.
    if (tail.length < END_MARKER || tail.some((byte) => byte !== 0)) {
      throw new TarFormatError('the tar ends without its end-of-archive blocks (truncated)');
    }
    extract.end(undefined);
  })();
  feeding.catch((err: unknown) => {
    // Failures after we stopped (our own destroy of `input`) are not the input's fault.
    if (state.stopped) return;
    state.inputFailure ??= { failure: err };
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  let count = 0;
  try {
    for await (const entry of extract) {
      count++;
      const body = entry as AsyncIterable<Buffer>;
      try {
        await visit({
          name: entry.header.name,
          type: entry.header.type,
          size: entry.header.size,
          pax: paxRecords(entry.header.pax),
          body: guarded(body, state),
        });
      } catch (err) {
        throw new VisitorFailure(err);
      }
      // Whatever the visitor left unread must still pass through, or the parser stalls.
      await skip(body);
    }
    await feeding;
    return count;
  } catch (err) {
    state.stopped = true;
    extract.destroy();
    if (onError === 'destroy') input.destroy();
    await feeding.catch(() => undefined);
    if (err instanceof VisitorFailure) throw err.failure;
    const inputFailure = state.inputFailure?.failure;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the input stream's own error, as it was
    if (inputFailure !== undefined && !(inputFailure instanceof TarFormatError)) throw inputFailure;
    throw err instanceof TarFormatError
      ? err
      : new TarFormatError(err instanceof Error ? err.message : String(err));
  }
}

/** An entry body whose read errors say what really failed: the input, or the tar's format. */
async function* guarded(
  body: AsyncIterable<Buffer>,
  state: { inputFailure?: { failure: unknown } },
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (err) {
    if (state.inputFailure) throw state.inputFailure.failure;
    throw new TarFormatError(err instanceof Error ? err.message : String(err));
  }
}

/** Carries a visitor's own failure through the parser's error handling unchanged. */
class VisitorFailure extends Error {
  constructor(readonly failure: unknown) {
    super('visitor failed');
  }
}

async function skip(body: AsyncIterable<Buffer>): Promise<number> {
  let bytes = 0;
  for await (const chunk of body) bytes += chunk.length;
  return bytes;
}

function paxRecords(pax: unknown): Record<string, string> {
  const records: Record<string, string> = {};
  if (typeof pax !== 'object' || pax === null) return records;
  for (const [key, value] of Object.entries(pax)) if (typeof value === 'string') records[key] = value;
  return records;
}

/** Waits until a tar-stream writable wants more, or is gone (then the caller's next check stops it). */
export function drained(stream: TarWritable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}
