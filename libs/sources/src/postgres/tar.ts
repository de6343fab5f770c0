import type { Readable } from 'node:stream';

/**
 * The small tar subset a pg_dump directory needs: flat regular files with short ASCII names. Written as POSIX ustar
 * (sizes of 8 GiB and more in the base-256 form GNU tar and bsdtar read), read back strictly: every header's
 * checksum, every body's length and the end-of-archive blocks are checked, so a cut or damaged archive never
 * restores as if it were whole.
 */
export const BLOCK = 512;
const OCTAL_SIZE_LIMIT = 8 ** 11;
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** The archive is malformed or cut short (as opposed to the input stream failing). */
export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

/** Names a member may have: what pg_dump -Fd writes (toc.dat, 1234.dat, blobs.toc, blob_5.dat), nothing with a path. */
export function isSafeMemberName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/.test(name);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/** The 512-byte ustar header of a regular file. */
export function fileHeader(name: string, size: number, mtime: Date, mode = 0o644): Buffer {
  if (!isSafeMemberName(name)) throw new Error(`cannot store "${name}" in the tar`);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 100, 'ascii');
  writeOctal(header, 100, 8, mode);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  if (size < OCTAL_SIZE_LIMIT) writeOctal(header, 124, 12, size);
  else {
    header[124] = 0x80;
    let rest = BigInt(size);
    for (let i = 135; i > 124; i--) {
      header[i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
  }
  writeOctal(header, 136, 12, Math.max(0, Math.floor(mtime.getTime() / 1000)));
  header.fill(' ', 148, 156);
  header.write('0', 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

/** Zeros that fill a body of `size` bytes up to the next block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** Whether `head` (the first bytes of a stream) is a ustar header. */
export function looksLikeTar(head: Buffer): boolean {
  return head.length >= 262 && head.toString('ascii', 257, 262) === 'ustar';
}

interface Header {
  name: string;
  size: number;
}

function parseHeader(block: Buffer): Header {
  const stored = parseOctal(block.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  if (stored !== sum) throw new TarFormatError('a tar header has a bad checksum');
  const type = String.fromCharCode(block[156] ?? 0);
  const end = block.indexOf(0, 0);
  const name = block.toString('utf8', 0, end === -1 || end > 100 ? 100 : end);
  if (type !== '0' && type !== '\0') throw new TarFormatError(`tar member "${name}" is not a regular file`);
  if (!isSafeMemberName(name)) throw new TarFormatError(`tar member "${name}" has an unexpected name`);
  const sizeField = block.subarray(124, 136);
  let size: number;
  if (((sizeField[0] ?? 0) & 0x80) !== 0) {
    let value = 0n;
    for (let i = 1; i < 12; i++) value = (value << 8n) | BigInt(sizeField[i] ?? 0);
    size = Number(value);
  } else size = parseOctal(sizeField);
  return { name, size };
}

function parseOctal(field: Buffer): number {
  const text = field
    .toString('ascii')
    .replace(/[\0 ]+$/, '')
    .replace(/^[ ]+/, '');
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError('a tar header has a malformed number');
  return parseInt(text, 8);
}

/** Pulls exact byte counts out of a stream's chunks without joining more than a block at a time. */
class ByteReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(input: Readable) {
    this.chunks = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes (fewer only at the end of the input); an empty buffer at the end. */
  async some(max: number): Promise<Buffer> {
    if (this.pending.length === 0 && !this.done) {
      const next = await this.chunks.next();
      if (next.done) this.done = true;
      else this.pending = next.value;
    }
    const taken = this.pending.subarray(0, max);
    this.pending = this.pending.subarray(taken.length);
    return taken;
  }

  async exactly(size: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < size) {
      const part = await this.some(size - have);
      if (part.length === 0) throw new TarFormatError(`the archive is cut short in ${what}`);
      parts.push(part);
      have += part.length;
    }
    return parts.length === 1 ? (parts[0] ?? Buffer.alloc(0)) : Buffer.concat(parts);
  }

  /** Reads the input to its end, discarding it (a caller may be hashing the same bytes). */
  async drain(): Promise<void> {
    this.pending = Buffer.alloc(0);
    while (!this.done) {
      const next = await this.chunks.next();
      if (next.done) this.done = true;
    }
  }
}

export interface TarMember {
  name: string;
  size: number;
  /** The member's bytes; must be read to the end before the next member. */
  body: AsyncIterable<Buffer>;
}

/**
 * Reads a tar to its end, handing each member to `onMember` (which must consume `body`). Rejects with TarFormatError
 * for a damaged or truncated archive, after reading the input to its end; with the input's error if it fails.
 */
export async function readTar(
  input: Readable,
  onMember: (member: TarMember) => Promise<void>,
): Promise<number> {
  const reader = new ByteReader(input);
  const seen = new Set<string>();
  try {
    for (;;) {
      const block = await reader.exactly(BLOCK, 'a header');
      if (block.every((byte) => byte === 0)) {
        const second = await reader.exactly(BLOCK, 'the end-of-archive blocks');
        if (!second.every((byte) => byte === 0))
          throw new TarFormatError('the end-of-archive blocks are damaged');
        // What follows may only be more zeros (tar pads archives to whole records).
        for (let rest = await reader.some(1 << 16); rest.length > 0; rest = await reader.some(1 << 16)) {
          if (!rest.every((byte) => byte === 0))
            throw new TarFormatError('there are bytes after the end of the archive');
        }
        return seen.size;
      }
      const header = parseHeader(block);
      if (seen.has(header.name)) throw new TarFormatError(`tar member "${header.name}" appears twice`);
      seen.add(header.name);
      let left = header.size;
      const body = async function* (): AsyncGenerator<Buffer> {
        while (left > 0) {
          const part = await reader.some(Math.min(left, 1 << 20));
          if (part.length === 0) throw new TarFormatError(`the archive is cut short in "${header.name}"`);
          left -= part.length;
          yield part;
        }
      };
      await onMember({ name: header.name, size: header.size, body: body() });
      if (left > 0) throw new Error(`the body of "${header.name}" was not read to its end`);
      await reader.exactly(padding(header.size).length, `the padding of "${header.name}"`);
    }
  } catch (err) {
    if (err instanceof TarFormatError) await reader.drain();
    throw err;
  }
}
