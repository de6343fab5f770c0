import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { errorCode, SourceError } from '@tidemark/source-contract';
import { fsReason } from './fs-util';

/** Bytes per read: large enough for throughput, small enough that memory does not depend on file sizes. */
export const CHUNK_SIZE = 256 * 1024;

export interface OpenedFile {
  handle: FileHandle;
  size: number;
  mtimeMs: number;
  mode: number;
}

/**
 * Opens a listed regular file for reading; undefined when it vanished (or stopped being a regular file) since it
 * was listed. Never follows a symlink that replaced the file, and never blocks on a FIFO that did.
 */
export async function openListedFile(abs: string, rel: string): Promise<OpenedFile | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') return undefined;
    throw new SourceError('dump-failed', `cannot open ${rel}: ${fsReason(err)}`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      await handle.close();
      return undefined;
    }
    return { handle, size: stats.size, mtimeMs: stats.mtimeMs, mode: stats.mode & 0o7777 };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw new SourceError('dump-failed', `cannot read ${rel}: ${fsReason(err)}`);
  }
}

/**
 * Reads exactly `size` bytes (the size a tar header announced), handing each chunk to `sink`, and returns their
 * sha256. A file that is shorter or longer than `size` changed while it was read: its tar entry cannot be valid.
 */
export async function readExactly(
  file: OpenedFile,
  rel: string,
  sink: (chunk: Buffer) => Promise<void> | void,
): Promise<string> {
  const hash = createHash('sha256');
  const changed = (): SourceError =>
    new SourceError('dump-failed', `file ${rel} changed while it was read; retry`);
  const read = async (buffer: Buffer, length: number, at: number): Promise<number> => {
    try {
      return (await file.handle.read(buffer, 0, length, at)).bytesRead;
    } catch (err) {
      throw new SourceError('dump-failed', `cannot read ${rel}: ${fsReason(err)}`);
    }
  };
  let position = 0;
  while (position < file.size) {
    // A fresh buffer per chunk: the tar stream keeps a reference until the consumer has read it.
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, file.size - position));
    const bytesRead = await read(buffer, buffer.length, position);
    if (bytesRead === 0) throw changed();
    const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    hash.update(chunk);
    position += bytesRead;
    await sink(chunk);
  }
  if ((await read(Buffer.alloc(1), 1, position)) !== 0) throw changed();
  return hash.digest('hex');
}
