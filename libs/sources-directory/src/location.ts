import { basename, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import picomatch from 'picomatch';
import { SourceError } from '@tidemark/source-contract';
import type { DirectorySettings } from './settings';

/** Lock, pid and temporary files are never worth restoring and are often mid-write. */
export const DEFAULT_EXCLUDES: readonly string[] = ['*.tmp', '*.lock', '*.pid'];

/** The directory a target points at: a path (absolute or relative to the working directory) or `file:///abs/dir`. */
export function parseDirectoryUrl(url: string): string {
  const text = url.trim();
  if (text === '') throw new SourceError('invalid-url', 'a directory target needs a path');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    if (!text.toLowerCase().startsWith('file://')) {
      throw new SourceError(
        'invalid-url',
        `invalid directory URL "${text}": use a path or file:///absolute/dir`,
      );
    }
    let path: string;
    try {
      path = fileURLToPath(text);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new SourceError('invalid-url', `invalid directory URL "${text}": ${reason}`);
    }
    return trimSlashes(path);
  }
  return trimSlashes(isAbsolute(text) ? resolve(text) : resolve(process.cwd(), text));
}

function trimSlashes(path: string): string {
  // `rename` of staging next to `dest/` would otherwise land inside it.
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** True for entries the target's `exclude` patterns leave out; each pattern is tried on the relative path and the base name. */
export type Excluder = (relativePath: string) => boolean;

export function excluder(settings: DirectorySettings | undefined): Excluder {
  const patterns = settings?.exclude ?? DEFAULT_EXCLUDES;
  if (patterns.length === 0) return () => false;
  const matches = picomatch([...patterns], { dot: true });
  return (relativePath) => matches(relativePath) || matches(basename(relativePath));
}
