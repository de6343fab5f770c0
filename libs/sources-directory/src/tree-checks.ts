import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { BackupContent, Check, FileEntry } from '@tidemark/manifest';
import { walk, type Listed } from './walk';

// Enough names to act on; a detail line must stay one readable line.
const NAMED = 3;

/** The restore test's checks: the restored tree holds exactly the point's entries, and every file its sha256. */
export async function checkTree(dir: string, point: BackupContent): Promise<Check[]> {
  const expected = point.files ?? [];
  const actual = await walk(dir, { exclude: () => false });
  return [filesCheck(expected, actual), await sha256Check(dir, expected, actual)];
}

function key(entry: Pick<FileEntry, 'path' | 'type' | 'linkTarget'>): string {
  return entry.type === 'symlink'
    ? `symlink ${entry.path} -> ${entry.linkTarget ?? ''}`
    : `${entry.type} ${entry.path}`;
}

function filesCheck(expected: FileEntry[], actual: Listed[]): Check {
  const want = new Set(expected.map(key));
  const have = new Set(actual.map(key));
  const missing = [...want].filter((k) => !have.has(k));
  const extra = [...have].filter((k) => !want.has(k));
  const check: Check = {
    name: 'files',
    ok: missing.length === 0 && extra.length === 0,
    expected: want.size,
    actual: have.size,
  };
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`missing ${describe(missing)}`);
  if (extra.length > 0) parts.push(`unexpected ${describe(extra)}`);
  if (parts.length > 0) check.detail = parts.join('; ');
  return check;
}

function describe(keys: string[]): string {
  const more = keys.length > NAMED ? ` and ${keys.length - NAMED} more` : '';
  return `${keys.slice(0, NAMED).join(', ')}${more}`;
}

async function sha256Check(dir: string, expected: FileEntry[], actual: Listed[]): Promise<Check> {
  const onDisk = new Set(actual.filter((entry) => entry.type === 'file').map((entry) => entry.path));
  const files = expected.filter((entry) => entry.type === 'file');
  let matching = 0;
  let first: string | undefined;
  for (const file of files) {
    // Re-read from disk: the point is that the restored bytes, not the stream we wrote, are right.
    const sha256 = onDisk.has(file.path) ? await hashFile(join(dir, file.path)) : undefined;
    if (sha256 !== undefined && sha256 === file.sha256) {
      matching++;
      continue;
    }
    first ??=
      sha256 === undefined
        ? `${file.path}: not restored`
        : `${file.path}: expected ${file.sha256 ?? 'none'}, got ${sha256}`;
  }
  const check: Check = {
    name: 'sha256',
    ok: matching === files.length,
    expected: files.length,
    actual: matching,
  };
  if (first !== undefined)
    check.detail = files.length - matching > 1 ? `${first} (and ${files.length - matching - 1} more)` : first;
  return check;
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}
