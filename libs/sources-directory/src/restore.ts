import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, readdir, rename, symlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { BackupContent, FileEntry } from '@tidemark/manifest';
import {
  type ChainMember,
  errorCode,
  readTar,
  SourceError,
  type TarEntry,
  TarFormatError,
} from '@tidemark/source-contract';
import { fsReason, removeTree } from './fs-util';
import { comparePaths } from './walk';

/**
 * What the backup holds does not check out (a corrupt or missing member entry, an unusable listing): a restore
 * fails with it, a restore test reports it as a failed check.
 */
export class ContentMismatch extends SourceError {
  constructor(message: string) {
    super('restore-failed', message);
  }
}

export interface RestorePointOptions {
  clean: boolean;
  /** Fail on a checksum mismatch or a missing file; off for restore tests, whose checks report them instead. */
  strict: boolean;
}

/** The staging directory next to `dest` that a restore builds in before swapping it into place. */
export const STAGING_MARK = '.tidemark-restore-';
const OLD_MARK = '.tidemark-old-';
// Lets the next chunks be parsed and hashed while the previous ones are written: a bounded amount per file.
const WRITE_BUFFER = 1024 * 1024;

/**
 * Rebuilds `point` at `dest`: everything is written into a staging directory beside it, checked, and only then
 * swapped into place, so `dest` is never left half-restored.
 */
export async function restorePoint(
  dest: string,
  members: AsyncIterable<ChainMember>,
  point: BackupContent,
  options: RestorePointOptions,
): Promise<void> {
  const entries = [...(point.files ?? [])].sort((a, b) => comparePaths(a.path, b.path));
  for (const entry of entries) assertSafePath(entry.path);
  const existing = await inspect(dest, options.clean);
  await mkdir(dirname(dest), { recursive: true }).catch((err: unknown) => {
    throw new SourceError('restore-failed', `cannot create ${dirname(dest)}: ${fsReason(err)}`);
  });
  const staging = `${dest}${STAGING_MARK}${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(staging);
    await build(staging, entries, members, options.strict);
    if (existing.mode !== undefined) await chmod(staging, existing.mode);
    await swap(staging, dest, existing.kind);
  } catch (err) {
    await removeTree(staging).catch(() => undefined);
    if (err instanceof SourceError) throw err;
    throw new SourceError('restore-failed', `restore into ${dest} failed: ${fsReason(err)}`);
  }
}

/** Refuses a non-empty destination unless `clean`; says what is there for the swap. */
async function inspect(
  dest: string,
  clean: boolean,
): Promise<{ kind: 'missing' | 'empty' | 'occupied'; mode?: number }> {
  const stats = await lstat(dest).catch((err: unknown) => {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw new SourceError('restore-failed', `cannot inspect ${dest}: ${fsReason(err)}`);
  });
  if (!stats) return { kind: 'missing' };
  if (stats.isDirectory()) {
    const names = await readdir(dest).catch((err: unknown) => {
      throw new SourceError('restore-failed', `cannot read ${dest}: ${fsReason(err)}`);
    });
    const mode = stats.mode & 0o7777;
    if (names.length === 0) return { kind: 'empty', mode };
    if (!clean) {
      throw new SourceError('target-not-empty', `directory ${dest} is not empty; pass --clean to replace it`);
    }
    return { kind: 'occupied', mode };
  }
  if (!clean)
    throw new SourceError(
      'target-not-empty',
      `${dest} exists and is not a directory; pass --clean to replace it`,
    );
  return { kind: 'occupied' };
}

async function swap(staging: string, dest: string, kind: 'missing' | 'empty' | 'occupied'): Promise<void> {
  // rename(2) replaces an empty directory atomically; a missing one is simply created.
  if (kind !== 'occupied') {
    await rename(staging, dest);
    return;
  }
  const old = `${dest}${OLD_MARK}${randomBytes(4).toString('hex')}`;
  await rename(dest, old);
  try {
    await rename(staging, dest);
  } catch (err) {
    await rename(old, dest);
    throw err;
  }
  await removeTree(old).catch((err: unknown) => {
    throw new SourceError(
      'restore-failed',
      `restored ${dest}, but could not remove its previous contents at ${old}: ${fsReason(err)}`,
    );
  });
}

async function build(
  staging: string,
  entries: FileEntry[],
  members: AsyncIterable<ChainMember>,
  strict: boolean,
): Promise<void> {
  const dirs = entries.filter((entry) => entry.type === 'dir');
  // Owner-only until the end, so nothing is exposed (or read-only) while files are still being written.
  for (const dir of dirs) await mkdir(join(staging, dir.path), { recursive: true, mode: 0o700 });

  const wanted = new Map(
    entries.filter((entry) => entry.type === 'file').map((entry) => [entry.path, entry]),
  );
  const written = new Set<string>();
  for await (const member of members) {
    const onEntry = async (entry: TarEntry): Promise<void> => {
      const name = memberName(entry.name);
      const want = wanted.get(name);
      // Older members also hold versions this point replaced; only the holder named by `in` counts (the
      // reader skips the rest).
      if (want?.in !== member.backupId || entry.type !== 'file' || written.has(name)) return;
      try {
        await writeFile(staging, want, entry, member.backupId, strict);
      } catch (err) {
        // Told apart from the member's stream failing, which readTar passes on unwrapped.
        if (err instanceof SourceError || err instanceof TarFormatError) throw err;
        throw new SourceError('restore-failed', `cannot write ${want.path}: ${fsReason(err)}`);
      }
      written.add(name);
    };
    try {
      await readTar(member.stream, onEntry, { onError: 'destroy' });
    } catch (err) {
      member.stream.destroy();
      if (err instanceof SourceError) throw err;
      if (err instanceof TarFormatError) {
        throw new ContentMismatch(`backup ${member.backupId} is not a valid tar: ${err.message}`);
      }
      throw new SourceError('restore-failed', `cannot read backup ${member.backupId}: ${fsReason(err)}`);
    }
  }
  const missing = [...wanted.values()].find((entry) => !written.has(entry.path));
  if (missing && strict) {
    throw new ContentMismatch(`file ${missing.path} is missing from backup ${missing.in}`);
  }

  for (const link of entries) {
    if (link.type !== 'symlink') continue;
    const abs = join(staging, link.path);
    await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
    await symlink(link.linkTarget ?? '', abs);
    if (link.mtimeMs !== undefined) await lutimes(abs, link.mtimeMs / 1000, link.mtimeMs / 1000);
  }
  // Deepest first: setting a parent's mode could make it read-only, and writing in a directory moves its mtime.
  for (const dir of [...dirs].reverse()) {
    const abs = join(staging, dir.path);
    await chmod(abs, dir.mode ?? 0o755);
    if (dir.mtimeMs !== undefined) await utimes(abs, dir.mtimeMs / 1000, dir.mtimeMs / 1000);
  }
}

async function writeFile(
  staging: string,
  want: FileEntry,
  entry: TarEntry,
  backupId: string,
  strict: boolean,
): Promise<void> {
  const abs = join(staging, want.path);
  await mkdir(dirname(abs), { recursive: true, mode: 0o700 });
  const hash = createHash('sha256');
  let size = 0;
  // 'wx': never write through anything already at the path.
  const out = createWriteStream(abs, { flags: 'wx', mode: 0o600, highWaterMark: WRITE_BUFFER });
  try {
    for await (const chunk of entry.body) {
      hash.update(chunk);
      size += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    throw err;
  }
  const sha256 = hash.digest('hex');
  if (strict && (size !== want.size || (want.sha256 !== undefined && sha256 !== want.sha256))) {
    throw new ContentMismatch(
      `file ${want.path} in backup ${backupId} does not match its checksum (expected ${want.size} bytes, sha256 ${short(want.sha256)}; got ${size} bytes, sha256 ${short(sha256)})`,
    );
  }
  await chmod(abs, want.mode ?? 0o644);
  if (want.mtimeMs !== undefined) await utimes(abs, want.mtimeMs / 1000, want.mtimeMs / 1000);
}

/** Member names as written by the dump; tolerates the `./` prefix and trailing `/` of other tar writers. */
function memberName(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

function short(sha256: string | undefined): string {
  return sha256 ? `${sha256.slice(0, 12)}…` : 'none';
}

/** A listing path must stay inside the destination: relative, no empty, `.` or `..` segments. */
function assertSafePath(path: string): void {
  const segments = path.split('/');
  if (path.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ContentMismatch(`the backup lists an unsafe path "${path}"`);
  }
}
