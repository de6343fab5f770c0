import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/** The database header is the first 100 bytes of page 1 (https://sqlite.org/fileformat.html#the_database_header). */
export const HEADER_BYTES = 100;
const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

export interface ImageCheck {
  ok: boolean;
  pages: number;
  detail?: string;
}

export function hasMagic(header: Buffer): boolean {
  return header.length >= MAGIC.length && header.subarray(0, MAGIC.length).equals(MAGIC);
}

/**
 * Whether `bytes` bytes starting with `header` form a whole database image: the header is valid and the length is
 * exactly page size × the in-header page count, so a truncated or padded copy is caught without opening it.
 */
export function checkImage(header: Buffer, bytes: number): ImageCheck {
  const fail = (detail: string, pages = 0): ImageCheck => ({ ok: false, pages, detail });
  if (bytes === 0) return fail('the file is empty');
  if (bytes < HEADER_BYTES || !hasMagic(header))
    return fail('not an SQLite database (no "SQLite format 3" header)');
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    return fail(`invalid page size ${rawPageSize} in the header`);
  const writeVersion = header.readUInt8(18);
  const readVersion = header.readUInt8(19);
  if (![1, 2].includes(writeVersion) || ![1, 2].includes(readVersion))
    return fail(`unknown file format version ${writeVersion}/${readVersion} in the header`);
  const pages = header.readUInt32BE(28);
  // The in-header size is only trustworthy when the change counter matches version-valid-for (SQLite >= 3.7.0).
  if (pages === 0 || header.readUInt32BE(24) !== header.readUInt32BE(92))
    return fail('the header carries no valid database size');
  const expected = pages * pageSize;
  if (bytes !== expected) {
    const what = bytes < expected ? 'truncated' : 'has trailing bytes';
    return fail(
      `${what}: ${bytes} bytes, but the header says ${pages} pages of ${pageSize} bytes (${expected} bytes)`,
      pages,
    );
  }
  return { ok: true, pages };
}

/** Reads a stream to its end keeping only the header and the byte count (memory stays at 100 bytes). */
export async function scanImage(input: Readable): Promise<{ header: Buffer; bytes: number }> {
  const header = Buffer.alloc(HEADER_BYTES);
  let bytes = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes < HEADER_BYTES) buffer.copy(header, bytes, 0, Math.min(buffer.length, HEADER_BYTES - bytes));
    bytes += buffer.length;
  }
  return { header: header.subarray(0, Math.min(bytes, HEADER_BYTES)), bytes };
}

/** The header and size of a file on disk. */
export async function readImageFile(path: string): Promise<{ header: Buffer; bytes: number }> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const header = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await file.read(header, 0, HEADER_BYTES, 0);
    return { header: header.subarray(0, bytesRead), bytes: size };
  } finally {
    await file.close();
  }
}
