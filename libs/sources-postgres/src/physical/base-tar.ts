import type { Readable } from 'node:stream';
import { readTar, TarFormatError } from '@tidemark/source-contract';

/** The members of a base backup's tar that Tidemark reads; every other member is skipped unbuffered. */
export const LABEL = 'backup_label';
export const MANIFEST = 'backup_manifest';
export const PG_CONTROL = 'global/pg_control';
/** backup_manifest lists every file of the cluster with a checksum: far below this even for large clusters. */
export const MANIFEST_LIMIT = 256 * 1024 * 1024;
export const LABEL_LIMIT = 64 * 1024;

/** What `backup_label` says about where the backup starts. */
export interface BackupLabel {
  startLsn: string;
  timeline: number;
  /** As the server wrote it, e.g. `2026-12-03 09:10:11 UTC`. */
  startTime: string;
}

export interface BaseTarSummary {
  entries: number;
  label: BackupLabel | undefined;
  /** backup_manifest parsed as JSON; undefined when the tar has none. */
  manifest: Record<string, unknown> | undefined;
  hasPgControl: boolean;
}

/**
 * Reads a pg_basebackup tar to its end, keeping only backup_label and backup_manifest (the two small members)
 * in memory. A damaged tar is a TarFormatError, and the input is still read to its end.
 */
export async function readBaseTar(input: Readable): Promise<BaseTarSummary> {
  let label: BackupLabel | undefined;
  let manifest: Record<string, unknown> | undefined;
  let hasPgControl = false;
  const entries = await readTar(
    input,
    async ({ name, size, body }) => {
      const path = name.replace(/^\.\//, '');
      if (path === PG_CONTROL) hasPgControl = true;
      if (path === LABEL) label = parseBackupLabel(await collect(body, size, LABEL_LIMIT, path));
      if (path === MANIFEST) manifest = parseBackupManifest(await collect(body, size, MANIFEST_LIMIT, path));
    },
    { onError: 'drain' },
  );
  return { entries, label, manifest, hasPgControl };
}

async function collect(
  body: AsyncIterable<Buffer>,
  size: number,
  limit: number,
  name: string,
): Promise<string> {
  if (size > limit) throw new TarFormatError(`tar member "${name}" is ${size} bytes, more than ${limit}`);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const BLOCK = 512;
/** A pax or GNU long-name header's body: it names the next member. */
const META_LIMIT = 64 * 1024;
type Region = 'header' | 'body' | 'end';

interface Member {
  name: string;
  type: string;
  size: number;
  /** Where the body's bytes go: kept for the members Tidemark reads, undefined to skip them. */
  kept: Buffer[] | undefined;
}

/**
 * The dump's side of {@link readBaseTar}: fed the chunks of pg_basebackup's stdout as they pass to the artifact,
 * it copies only 512-byte headers and the bodies of backup_label, backup_manifest and any pax or GNU long-name
 * header, and skips every other body by arithmetic. Synchronous and allocation-free per chunk, so it adds no
 * stream, no copy of the data and no await to the dump. The first problem stops the scan; `finish` reports it.
 */
export class BaseTarScanner {
  private region: Region = 'header';
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  /** Bytes of the current body and its padding still to come. */
  private remaining = 0;
  private member: Member | undefined;
  /** The name a pax or GNU long-name header gave the next member. */
  private longName: string | undefined;
  private zeroBlocks = 0;
  private problem: string | undefined;
  private readonly summary: BaseTarSummary = {
    entries: 0,
    label: undefined,
    manifest: undefined,
    hasPgControl: false,
  };

  observe(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.problem === undefined) {
      try {
        at = this.region === 'body' ? this.body(chunk, at) : this.headerBytes(chunk, at);
      } catch (err) {
        this.problem = err instanceof Error ? err.message : String(err);
      }
    }
  }

  /** The summary once the input has ended; a TarFormatError for a damaged or cut-short tar. */
  finish(): BaseTarSummary {
    if (this.problem !== undefined) throw new TarFormatError(this.problem);
    if (this.region === 'end' && this.header.subarray(0, this.headerFill).some((byte) => byte !== 0))
      throw new TarFormatError('there are bytes after the end of the archive');
    if (this.region === 'body')
      throw new TarFormatError(`the archive is cut short in "${this.member?.name}"`);
    if (this.region === 'header')
      throw new TarFormatError(
        this.zeroBlocks > 0 || this.headerFill > 0
          ? 'the archive is cut short in a header or the end-of-archive blocks'
          : 'the archive has no end-of-archive marker (truncated)',
      );
    return this.summary;
  }

  private headerBytes(chunk: Buffer, at: number): number {
    const take = Math.min(BLOCK - this.headerFill, chunk.length - at);
    chunk.copy(this.header, this.headerFill, at, at + take);
    this.headerFill += take;
    if (this.headerFill === BLOCK) {
      this.headerFill = 0;
      this.block();
    }
    return at + take;
  }

  /** A whole header block (or, after the end, a block that must be zeros). */
  private block(): void {
    const zero = this.header.every((byte) => byte === 0);
    if (this.region === 'end') {
      if (!zero) throw new Error('there are bytes after the end of the archive');
      return;
    }
    if (zero) {
      if (++this.zeroBlocks === 2) this.region = 'end';
      return;
    }
    if (this.zeroBlocks > 0) throw new Error('the end-of-archive blocks are damaged');
    this.enter(readHeader(this.header));
  }

  private enter(header: { name: string; type: string; size: number }): void {
    const meta = header.type === 'x' || header.type === 'L';
    const name = meta ? header.name : (this.longName ?? header.name).replace(/^\.\//, '');
    if (!meta) this.longName = undefined;
    const limit = meta ? META_LIMIT : keptLimit(name, header.type);
    if (limit !== undefined && header.size > limit)
      throw new Error(`tar member "${name}" is ${header.size} bytes, more than ${limit}`);
    // pax global headers ('g') and other extensions carry nothing Tidemark reads.
    if (!meta && header.type !== 'g') this.summary.entries++;
    if (name === PG_CONTROL) this.summary.hasPgControl = true;
    this.member = { name, type: header.type, size: header.size, kept: limit === undefined ? undefined : [] };
    // A directory's size field is ignored: it has no body.
    this.remaining = header.type === '5' ? 0 : Math.ceil(header.size / BLOCK) * BLOCK;
    if (this.remaining === 0) this.close();
    else this.region = 'body';
  }

  private body(chunk: Buffer, at: number): number {
    const take = Math.min(this.remaining, chunk.length - at);
    const member = this.member;
    if (member?.kept) {
      const got = member.kept.reduce((sum, piece) => sum + piece.length, 0);
      const wanted = Math.max(0, Math.min(take, member.size - got));
      // A copy: the kept members are small, and the chunk goes on to the artifact.
      if (wanted > 0) member.kept.push(Buffer.from(chunk.subarray(at, at + wanted)));
    }
    this.remaining -= take;
    if (this.remaining === 0) {
      this.close();
      this.region = 'header';
    }
    return at + take;
  }

  private close(): void {
    const member = this.member;
    this.member = undefined;
    if (!member?.kept) return;
    const text = Buffer.concat(member.kept).toString('utf8');
    if (member.type === 'L') this.longName = text.replace(/\0+$/, '');
    else if (member.type === 'x') this.longName = paxPath(text) ?? this.longName;
    else if (member.name === LABEL) this.summary.label = parseBackupLabel(text);
    else if (member.name === MANIFEST) this.summary.manifest = parseBackupManifest(text);
  }
}

/**
 * Scans `stream` with a {@link BaseTarScanner} as its chunks pass to whoever else reads it (attach before that
 * reader, in the same tick). Settles when the stream ends; rejects with a TarFormatError for a damaged tar or when
 * the stream closes before its end, and with the stream's own error when it fails.
 */
export function scanBaseTar(stream: Readable): Promise<BaseTarSummary> {
  const scanner = new BaseTarScanner();
  return new Promise<BaseTarSummary>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      scanner.observe(chunk);
    });
    stream.once('end', () => {
      try {
        resolve(scanner.finish());
      } catch (err) {
        reject(err instanceof Error ? err : new TarFormatError(String(err)));
      }
    });
    stream.once('error', reject);
    // After 'end' this is a no-op; without it the stream was destroyed midway.
    stream.once('close', () => {
      reject(new TarFormatError('the tar stream closed before its end'));
    });
  });
}

/** The limit on a member Tidemark keeps; undefined for the members it skips. */
function keptLimit(name: string, type: string): number | undefined {
  if (type !== '0' && type !== '\0') return undefined;
  if (name === LABEL) return LABEL_LIMIT;
  if (name === MANIFEST) return MANIFEST_LIMIT;
  return undefined;
}

/** Name, type and size of a ustar (or GNU) header; a bad checksum is an error. */
function readHeader(block: Buffer): { name: string; type: string; size: number } {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i] ?? 0;
  if (readOctal(block, 148, 8) !== sum) throw new Error('a tar header has a bad checksum');
  const text = (start: number, length: number): string => {
    const end = block.indexOf(0, start);
    return block.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
  };
  const prefix = block.toString('latin1', 257, 262) === 'ustar' ? text(345, 155) : '';
  const name = prefix ? `${prefix}/${text(0, 100)}` : text(0, 100);
  return { name, type: String.fromCharCode(block[156] ?? 0), size: readSize(block) };
}

/** The size field: octal digits, or big-endian base-256 after a set high bit (GNU, for 8 GiB and more). */
function readSize(block: Buffer): number {
  if (((block[124] ?? 0) & 0x80) === 0) return readOctal(block, 124, 12);
  let size = (block[124] ?? 0) & 0x7f;
  for (let i = 125; i < 136; i++) size = size * 256 + (block[i] ?? 0);
  return size;
}

function readOctal(block: Buffer, start: number, length: number): number {
  const digits = block
    .toString('latin1', start, start + length)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]*$/.test(digits)) throw new Error('a tar header has a bad number field');
  return digits === '' ? 0 : parseInt(digits, 8);
}

/** The `path` record of a pax extended header (`<length> path=<value>\n`). */
function paxPath(text: string): string | undefined {
  for (const record of text.split('\n')) {
    const match = /^\d+ path=(.*)$/s.exec(record);
    if (match) return match[1];
  }
  return undefined;
}

/** `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)`, `START TIMELINE: 1`, `START TIME: …`. */
export function parseBackupLabel(text: string): BackupLabel {
  const field = (key: string): string => {
    const match = new RegExp(`^${key}: (.+)$`, 'm').exec(text);
    if (!match?.[1]) throw new TarFormatError(`backup_label has no ${key}`);
    return match[1].trim();
  };
  const startLsn = /^[0-9A-F]+\/[0-9A-F]+/i.exec(field('START WAL LOCATION'))?.[0];
  if (!startLsn) throw new TarFormatError('backup_label has no readable START WAL LOCATION');
  const timeline = Number(field('START TIMELINE'));
  if (!Number.isInteger(timeline) || timeline < 1)
    throw new TarFormatError('backup_label has a bad START TIMELINE');
  return { startLsn, timeline, startTime: field('START TIME') };
}

export function parseBackupManifest(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TarFormatError('backup_manifest is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new TarFormatError('backup_manifest is not a JSON object');
  return parsed as Record<string, unknown>;
}

/** The manifest's WAL range of the backup's timeline: where recovery must start and the least it must replay. */
export function manifestWalRange(
  manifest: Record<string, unknown>,
  timeline: number,
): { startLsn: string; stopLsn: string } {
  const ranges = manifest['WAL-Ranges'];
  if (!Array.isArray(ranges)) throw new TarFormatError('backup_manifest has no WAL-Ranges');
  for (const range of ranges as unknown[]) {
    const { Timeline, 'Start-LSN': start, 'End-LSN': end } = (range ?? {}) as Record<string, unknown>;
    if (Timeline === timeline && typeof start === 'string' && typeof end === 'string')
      return { startLsn: start, stopLsn: end };
  }
  throw new TarFormatError(`backup_manifest has no WAL range for timeline ${timeline}`);
}
