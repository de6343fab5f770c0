import { constants } from 'node:fs';
import { access, open, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorCode, SourceError } from '@tidemark/source-contract';
import { hasMagic, readImageFile } from './header';

/** Files SQLite keeps beside a database: the WAL and its index, or a rollback journal. */
export const COMPANION_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

export function companions(path: string): string[] {
  return COMPANION_SUFFIXES.map((suffix) => `${path}${suffix}`);
}

/** Removes a database file and whatever companions it left behind. */
export async function removeDatabaseFiles(path: string): Promise<void> {
  await Promise.all([path, ...companions(path)].map((file) => rm(file, { force: true })));
}

/** The first of `paths` that exists, if any. */
export async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    try {
      await stat(path);
      return path;
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
    }
  }
  return undefined;
}

/**
 * Writes `input` to a new file (0600; refused if the path exists) and flushes it to disk. On any failure the
 * partial file is removed and the error rethrown.
 */
export async function writeNewFile(input: Readable, path: string): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    await pipeline(input, handle.createWriteStream({ flush: true }));
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw err;
  }
}

/** Makes a rename or link inside `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface SourceFile {
  bytes: number;
  walBytes: number;
}

/** Checks that `path` is a readable SQLite database file, with errors that name the problem. */
export async function inspectSourceFile(path: string): Promise<SourceFile> {
  let bytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new SourceError('source-unreachable', `${path} is not a file`);
    bytes = info.size;
    await access(path, constants.R_OK);
  } catch (err) {
    throw fileError(err, path);
  }
  // A zero-length file is what SQLite itself treats as an empty database.
  if (bytes > 0) {
    let header: Buffer;
    try {
      ({ header } = await readImageFile(path));
    } catch (err) {
      throw fileError(err, path);
    }
    if (!hasMagic(header))
      throw new SourceError(
        'source-unreachable',
        `${path} is not an SQLite database (no "SQLite format 3" header)`,
      );
  }
  let walBytes = 0;
  try {
    walBytes = (await stat(`${path}-wal`)).size;
  } catch {
    // No WAL (rollback-journal mode, or checkpointed and removed).
  }
  return { bytes, walBytes };
}

function fileError(err: unknown, path: string): SourceError {
  if (err instanceof SourceError) return err;
  const code = errorCode(err);
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new SourceError('source-missing-database', `SQLite database ${path} does not exist`);
  if (code === 'EACCES' || code === 'EPERM')
    return new SourceError('source-auth', `cannot read SQLite database ${path}: permission denied`);
  const message = err instanceof Error ? err.message : String(err);
  return new SourceError('source-unreachable', `cannot read SQLite database ${path}: ${message}`);
}
