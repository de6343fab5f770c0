import { Readable } from 'node:stream';
import { looksLikeTar } from '@tidemark/source-contract';

/** Finds a byte string in a stream seen chunk by chunk, also across chunk boundaries. */
export class MarkerScan {
  found = false;
  private tail = Buffer.alloc(0);

  constructor(private readonly marker: Buffer) {}

  observe(chunk: Buffer): void {
    if (this.found) return;
    const window = Buffer.concat([this.tail, chunk]);
    if (window.includes(this.marker)) this.found = true;
    const keep = this.marker.length - 1;
    this.tail = Buffer.from(window.subarray(Math.max(0, window.length - keep)));
  }
}

// pg_dump writes this for the extension (always with the schema, so `timescaledb_toolkit` does not match).
export const TIMESCALE_MARKER = Buffer.from('CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA ');

// A custom archive's table of contents comes first and the extension entries sort right after the schemas: 4 MiB
// holds tens of thousands of schemas before them. Only this much is held back from pg_restore.
const SCAN_LIMIT = 4 << 20;
const TAR_SNIFF = 512;

export interface InspectedArchive {
  /** The same bytes as the input, from its first byte. */
  stream: Readable;
  kind: 'tar' | 'custom';
  /** Custom archives: the TimescaleDB extension appears in the table of contents. */
  timescale: boolean;
}

/** Tells a directory-format tar from a custom archive (or anything else, left to pg_restore to refuse). */
export async function inspectArchive(
  input: Readable,
  options: { scan: boolean } = { scan: true },
): Promise<InspectedArchive> {
  const chunks = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  const pull = async (): Promise<boolean> => {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      return false;
    }
    held.push(next.value);
    bytes += next.value.length;
    return true;
  };
  while (bytes < TAR_SNIFF && (await pull()));
  const head = Buffer.concat(held).subarray(0, TAR_SNIFF);
  const kind = looksLikeTar(head) ? 'tar' : 'custom';
  const scan = new MarkerScan(TIMESCALE_MARKER);
  if (kind === 'custom' && options.scan) {
    for (const chunk of held) scan.observe(chunk);
    while (!scan.found && bytes < SCAN_LIMIT && (await pull()))
      scan.observe(held[held.length - 1] ?? Buffer.alloc(0));
  }
  const replay = async function* (): AsyncGenerator<Buffer> {
    let complete = false;
    try {
      while (held.length > 0) yield held.shift() ?? Buffer.alloc(0);
      while (!ended) {
        const next = await chunks.next();
        if (next.done) break;
        yield next.value;
      }
      complete = true;
    } finally {
      // Stopped early (the reader gave up): release the input as well.
      if (!complete && !ended) await chunks.return?.();
    }
  };
  return { stream: Readable.from(replay(), { objectMode: false }), kind, timescale: scan.found };
}
