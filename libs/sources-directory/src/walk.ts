import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode, SourceError } from '@tidemark/source-contract';
import type { Excluder } from './location';
import { fsReason } from './fs-util';

/** One entry of the tree as the walk saw it; relative paths use '/'. */
export interface Listed {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  size: number;
  mtimeMs: number;
  mode: number;
  linkTarget?: string;
}

export interface WalkOptions {
  exclude: Excluder;
  /** Checked between directories so an abort stops a long walk. */
  stopped?: () => boolean;
}

// lstat calls in flight per directory: enough to hide latency, bounded for directories with millions of entries.
const STAT_BATCH = 64;

/**
 * Lists the tree under `root` without following symlinks, sorted by path (a parent always sorts before its
 * children). Entries that disappear while being listed are simply not listed; sockets, FIFOs and devices are skipped.
 */
export async function walk(root: string, options: WalkOptions): Promise<Listed[]> {
  const listed: Listed[] = [];
  const pending: string[] = [''];
  while (pending.length > 0) {
    if (options.stopped?.()) throw new SourceError('dump-failed', `listing of ${root} was aborted`);
    const relDir = pending.pop() ?? '';
    const names = await readNames(root, relDir);
    for (let start = 0; start < names.length; start += STAT_BATCH) {
      const batch = names.slice(start, start + STAT_BATCH);
      const entries = await Promise.all(
        batch.map(async (name) => {
          const rel = relDir === '' ? name : `${relDir}/${name}`;
          return options.exclude(rel) ? undefined : await describe(root, rel);
        }),
      );
      for (const entry of entries) {
        if (!entry) continue;
        listed.push(entry);
        if (entry.type === 'dir') pending.push(entry.path);
      }
    }
  }
  return listed.sort((a, b) => comparePaths(a.path, b.path));
}

/** Code-unit order: deterministic and independent of the locale. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function readNames(root: string, relDir: string): Promise<string[]> {
  try {
    return await readdir(join(root, relDir));
  } catch (err) {
    // A subdirectory removed while we walk is not an error; the root itself was checked before.
    if (relDir !== '' && (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR')) return [];
    throw new SourceError('dump-failed', `cannot list ${join(root, relDir)}: ${fsReason(err)}`);
  }
}

async function describe(root: string, rel: string): Promise<Listed | undefined> {
  const abs = join(root, rel);
  try {
    const stats = await lstat(abs);
    const base = { path: rel, size: 0, mtimeMs: stats.mtimeMs, mode: stats.mode & 0o7777 };
    if (stats.isDirectory()) return { ...base, type: 'dir' };
    if (stats.isSymbolicLink()) return { ...base, type: 'symlink', linkTarget: await readlink(abs) };
    if (stats.isFile()) return { ...base, type: 'file', size: stats.size };
    return undefined;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw new SourceError('dump-failed', `cannot read ${abs}: ${fsReason(err)}`);
  }
}
