import type { Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';
import { drained } from '../process';
import { TarFraming } from './tar-framing';

/** The input is not a (whole) tar: as opposed to a failure of the input stream or of the visitor. */
export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

export interface TarEntry {
  name: string;
  type: Header['type'];
  size: number;
  mode: number;
  /** The entry's pax records (vendor ones included), empty when it had none. */
  pax: Record<string, string>;
  /** The entry's bytes: read them to the end or not at all (the reader skips an unread body before the next entry). */
  body: AsyncIterable<Buffer>;
}

export interface ReadTarOptions {
  /**
   * What happens to the rest of the input after a failure (of the format or of the visitor): 'drain' reads it to
   * its end (a caller may be hashing the same bytes), 'destroy' stops it. A failure of the input itself is what
   * rejects then.
   */
  onError: 'drain' | 'destroy';
}

interface ReadState {
  stopped: boolean;
  ended: boolean;
  inputFailure?: { failure: unknown };
}

/**
 * Parses `input` as a tar (with tar-stream) and hands each entry to `visit`, one at a time. Resolves with the
 * number of entries. Rejects with TarFormatError for a damaged or cut-short archive: a bad header checksum, a body
 * cut short, missing or damaged end-of-archive blocks, or bytes after them; with the visitor's own error when it
 * throws; with the input's error when the input fails.
 */
export async function readTar(
  input: Readable,
  visit: (entry: TarEntry) => Promise<void>,
  options: ReadTarOptions,
): Promise<number> {
  const extract = tar.extract();
  const framing = new TarFraming();
  const state: ReadState = { stopped: false, ended: false };
  const feeding = (async () => {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      // After a failure the rest is still read (in 'drain' mode), just not parsed.
      if (state.stopped || extract.destroying) continue;
      framing.observe(chunk);
      if (!extract.write(chunk)) await drained(extract);
    }
    state.ended = true;
    if (!state.stopped && !extract.destroying) extract.end(undefined);
  })();
  feeding.catch((err: unknown) => {
    // Failures after we stopped it (our own destroy of `input`) are not the input's fault.
    if (state.stopped && options.onError === 'destroy') return;
    state.inputFailure ??= { failure: err };
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  const formatError = (err: unknown): TarFormatError =>
    err instanceof TarFormatError ? err : new TarFormatError(framing.explain(err, state.ended));
  let count = 0;
  try {
    for await (const entry of extract) {
      count++;
      const { header } = entry;
      const problem = framing.enter(entry.offset, header);
      if (problem) throw new TarFormatError(problem);
      const body = guarded(entry as AsyncIterable<Buffer>, state, formatError);
      try {
        await visit({
          name: header.name,
          type: header.type,
          size: header.size,
          mode: header.mode,
          pax: paxRecords(header.pax),
          body,
        });
      } catch (err) {
        throw new VisitorFailure(err);
      }
      // Whatever the visitor left unread must still pass through, or the parser stalls.
      for await (const _chunk of body);
    }
    await feeding;
    const problem = framing.finish();
    if (problem) throw new TarFormatError(problem);
    return count;
  } catch (err) {
    state.stopped = true;
    extract.destroy();
    if (options.onError === 'destroy') input.destroy();
    await feeding.catch(() => undefined);
    // A failing input explains whatever failed after it, the visitor included.
    if (state.inputFailure) throw state.inputFailure.failure;
    if (err instanceof VisitorFailure) throw err.failure;
    throw formatError(err);
  }
}

/** An entry body whose read errors say what really failed: the input, or the tar's format. */
async function* guarded(
  body: AsyncIterable<Buffer>,
  state: ReadState,
  formatError: (err: unknown) => TarFormatError,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (err) {
    if (state.inputFailure) throw state.inputFailure.failure;
    throw formatError(err);
  }
}

/** Carries a visitor's own failure through the parser's error handling unchanged. */
class VisitorFailure extends Error {
  constructor(readonly failure: unknown) {
    super('visitor failed');
  }
}

function paxRecords(pax: unknown): Record<string, string> {
  const records: Record<string, string> = {};
  if (typeof pax !== 'object' || pax === null) return records;
  for (const [key, value] of Object.entries(pax)) if (typeof value === 'string') records[key] = value;
  return records;
}

/** Whether `head` (the first bytes of a stream) is a ustar header. */
export function looksLikeTar(head: Buffer): boolean {
  return head.length >= 262 && head.toString('ascii', 257, 262) === 'ustar';
}
