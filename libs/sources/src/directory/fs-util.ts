import { chmod, lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The errno code of a failed file-system call, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = err.code;
  return typeof code === 'string' ? code : undefined;
}

/** A short, one-line reason for a file-system failure (`permission denied`, or the error's message). */
export function fsReason(err: unknown): string {
  switch (errnoCode(err)) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'no such file or directory';
    case 'ENOTDIR':
      return 'not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    default:
      return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  }
}

/**
 * Removes a tree even when a restore left read-only directories in it (modes are applied last, so a failure
 * after that point would otherwise leave an undeletable staging directory behind).
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    if (errnoCode(err) !== 'EACCES' && errnoCode(err) !== 'EPERM') throw err;
    await makeWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

async function makeWritable(path: string): Promise<void> {
  const stats = await lstat(path).catch(() => undefined);
  if (!stats?.isDirectory()) return;
  await chmod(path, 0o700);
  for (const name of await readdir(path)) await makeWritable(join(path, name));
}
