import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, readdir, rename, rm, statfs, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import {
  MANIFEST_FILE,
  TARGET_ID_PATTERN,
  ManifestError,
  isBackupId,
  parseManifest,
  type Manifest,
} from '@tidemark/manifest';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * The local directory tier, `<root>/<targetId>/<backupId>/…`, shared between services on one volume.
 * Directories and manifests are private to the service user: dumps hold whole databases.
 */
export class LocalTier {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  backupDir(targetId: string, backupId: string): string {
    // Both ids become path segments; validating them keeps every path inside the root.
    if (!TARGET_ID_PATTERN.test(targetId))
      throw new Error(`"${targetId}" is not a target id ([a-z0-9-]{1,63})`);
    if (!isBackupId(backupId)) throw new Error(`"${backupId}" is not a backup id (YYYYMMDDTHHMMSSZ-xxxxxx)`);
    return join(this.root, targetId, backupId);
  }

  partPath(targetId: string, backupId: string, file: string): string {
    const dir = this.backupDir(targetId, backupId);
    const path = resolve(dir, file);
    const rel = relative(dir, path);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new Error(`"${file}" is not a file name inside the backup directory`);
    }
    return path;
  }

  async ensureBackupDir(targetId: string, backupId: string): Promise<string> {
    const dir = this.backupDir(targetId, backupId);
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    // mkdir's mode is filtered by the umask and ignored for directories that already existed.
    // The root may be a mount owned by someone else, so only the directories this tier owns are forced.
    await chmod(join(this.root, targetId), DIR_MODE);
    await chmod(dir, DIR_MODE);
    return dir;
  }

  /** Writes `manifest.json` atomically: a reader sees the old or the new manifest, never a torn one. */
  async writeManifest(manifest: Manifest): Promise<void> {
    const valid = parseManifest(manifest, `manifest of ${manifest.backupId}`);
    const dir = await this.ensureBackupDir(valid.target.id, valid.backupId);
    const tmp = join(dir, `${MANIFEST_FILE}.tmp-${randomBytes(6).toString('hex')}`);
    try {
      const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
      try {
        await file.writeFile(`${JSON.stringify(valid, null, 2)}\n`, 'utf8');
        await file.chmod(FILE_MODE);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, join(dir, MANIFEST_FILE));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await syncDir(dir);
  }

  async readManifest(targetId: string, backupId: string): Promise<Manifest | null> {
    const path = join(this.backupDir(targetId, backupId), MANIFEST_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ManifestError(`${path}: not valid JSON`);
    }
    return parseManifest(json, path);
  }

  async removeBackup(targetId: string, backupId: string): Promise<void> {
    await rm(this.backupDir(targetId, backupId), { recursive: true, force: true });
  }

  /** Every `<targetId>/<backupId>` directory under the root, sorted; anything else there is ignored. */
  async listBackups(): Promise<{ targetId: string; backupId: string }[]> {
    const result: { targetId: string; backupId: string }[] = [];
    for (const targetId of await subdirectories(this.root)) {
      if (!TARGET_ID_PATTERN.test(targetId)) continue;
      for (const backupId of await subdirectories(join(this.root, targetId))) {
        if (isBackupId(backupId)) result.push({ targetId, backupId });
      }
    }
    return result.sort((a, b) =>
      a.targetId === b.targetId ? compare(a.backupId, b.backupId) : compare(a.targetId, b.targetId),
    );
  }

  /** Bytes available to this (unprivileged) process on the root's filesystem. */
  async freeBytes(): Promise<number> {
    await mkdir(this.root, { recursive: true, mode: DIR_MODE });
    const stats = await statfs(this.root);
    return stats.bavail * stats.bsize;
  }
}

async function subdirectories(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}

/** Makes the rename itself durable; some filesystems refuse fsync on a directory, which is harmless. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
