import { randomBytes } from 'node:crypto';
import { link, mkdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Readable } from 'node:stream';
import type { ArtifactFormat, BackupContent, Check, TableCount } from '@tidemark/manifest';
import {
  compareCounts,
  type DumpContext,
  type DumpHandle,
  errorCode,
  errorMessage,
  oneLine,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  type Source,
  SourceError,
  type SourceInfo,
  type SourceOptions,
  type SourceTarget,
  type StreamSource,
  type StructureCheckResult,
} from '@tidemark/source-contract';
import { dumpSqlite, type SnapshotSettings } from './dump';
import {
  companions,
  firstExisting,
  inspectSourceFile,
  removeDatabaseFiles,
  syncDirectory,
  writeNewFile,
} from './files';
import { checkImage, readImageFile, scanImage } from './header';
import { parseSqliteLocation } from './location';
import { runWorker } from './sqlite-worker';

export const SQLITE_SNAPSHOT_DEFAULTS: SnapshotSettings = {
  // 4 MiB per step at the default 4 KiB page size: few thread hops, and abort still lands within milliseconds.
  pagesPerStep: 1024,
  busyTimeoutMs: 60_000,
};

const STRUCTURE_TOOL = 'sqlite header';

/**
 * One SQLite database file, backed up with SQLite's online backup API (node:sqlite, no external tool) into a
 * byte-for-byte database file: the artifact is itself a database that `sqlite3` opens.
 */
export class SqliteSource implements StreamSource {
  readonly kind = 'sqlite';
  readonly incremental = false;
  readonly format: ArtifactFormat = 'sqlite-db';
  /** The absolute path of the database file. */
  readonly path: string;
  private readonly settings: SnapshotSettings;

  constructor(url: string, options: { cwd?: string; snapshot?: Partial<SnapshotSettings> } = {}) {
    this.path = parseSqliteLocation(url, options.cwd);
    this.settings = { ...SQLITE_SNAPSHOT_DEFAULTS, ...options.snapshot };
  }

  async preCheck(): Promise<SourceInfo> {
    const file = await inspectSourceFile(this.path);
    const version = sqliteVersion();
    return {
      kind: this.kind,
      database: this.path,
      host: hostname(),
      serverVersion: version,
      serverMajor: Number(version.split('.')[0]),
      dumpTool: `node:sqlite ${version}`,
      estimatedBytes: file.bytes + file.walBytes,
    };
  }

  async dump(context: DumpContext): Promise<DumpHandle> {
    await inspectSourceFile(this.path);
    return dumpSqlite(this.path, context.workDir, context.backupId, this.settings);
  }

  async checkStructure(input: Readable): Promise<StructureCheckResult> {
    const { header, bytes } = await scanImage(input);
    const image = checkImage(header, bytes);
    return {
      ok: image.ok,
      tool: STRUCTURE_TOOL,
      entries: image.pages,
      ...(image.detail === undefined ? {} : { detail: image.detail }),
    };
  }

  async restoreTest(input: Readable, expected: BackupContent, scratch: Scratch): Promise<RestoreTestResult> {
    assertFileName(scratch.name);
    const file = join(scratch.dir, `${scratch.name}.sqlite`);
    const started = performance.now();
    // A retried test reuses the name; whatever an earlier attempt left goes first.
    await removeDatabaseFiles(file);
    try {
      await writeNewFile(input, file);
      const checks = await checkRestored(file, expected);
      return {
        ok: checks.every((check) => check.ok),
        durationMs: Math.max(1, Math.round(performance.now() - started)),
        scratch: file,
        checks,
      };
    } finally {
      await removeDatabaseFiles(file);
    }
  }

  async restore(input: Readable, options: RestoreOptions): Promise<void> {
    const destination = this.path;
    const dir = dirname(destination);
    await mkdir(dir, { recursive: true });
    if (!options.clean) await this.refuseExisting();
    // Same directory, so the final rename is atomic: the destination is either the old file or the whole new one.
    const temp = join(dir, `.${basename(destination)}.tidemark-${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeNewFile(input, temp);
      const image = checkImage(...(await imageOf(temp)));
      if (!image.ok)
        throw new SourceError(
          'restore-failed',
          `the backup for ${destination} is not a complete SQLite database: ${image.detail ?? 'unknown problem'}`,
        );
      const problems = await integrityProblems(temp);
      if (problems.length > 0)
        throw new SourceError(
          'restore-failed',
          `the restored copy for ${destination} fails integrity_check: ${summarize(problems)}`,
        );
      await this.install(temp, options.clean);
      await syncDirectory(dir);
    } finally {
      await removeDatabaseFiles(temp);
    }
  }

  async tableCounts(): Promise<TableCount[]> {
    await inspectSourceFile(this.path);
    try {
      const { tables } = await runWorker({
        op: 'count',
        path: this.path,
        busyTimeoutMs: this.settings.busyTimeoutMs,
      });
      return tables ?? [];
    } catch (err) {
      throw new SourceError('source-unreachable', `cannot count rows in ${this.path}: ${errorMessage(err)}`);
    }
  }

  private async refuseExisting(): Promise<void> {
    // A leftover WAL or hot journal would be replayed into the restored file, so it counts as "not empty" too.
    const existing = await firstExisting([this.path, ...companions(this.path)]);
    if (existing !== undefined)
      throw new SourceError('target-not-empty', `${existing} already exists; pass --clean to replace it`);
  }

  /** Moves the checked copy into place; without `clean` it never replaces a file that appeared meanwhile. */
  private async install(temp: string, clean: boolean): Promise<void> {
    if (clean) {
      // The old database's WAL or journal belongs to the old file and would corrupt the new one.
      await Promise.all(companions(this.path).map((file) => rm(file, { force: true })));
      await rename(temp, this.path);
      return;
    }
    try {
      // link() fails if the destination exists, unlike rename(): an atomic "create only".
      await link(temp, this.path);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'EEXIST')
        throw new SourceError('target-not-empty', `${this.path} already exists; pass --clean to replace it`);
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw err;
      // File systems without hard links: check, then rename (only a file created in between could be replaced).
      await this.refuseExisting();
      await rename(temp, this.path);
    }
  }
}

export function createSqliteSource(target: SourceTarget, _options: SourceOptions): Source {
  return new SqliteSource(target.url);
}

/** The SQLite library node:sqlite is built with; it is both "server" and dump tool here. */
function sqliteVersion(): string {
  const db = new DatabaseSync(':memory:');
  try {
    return String(db.prepare('SELECT sqlite_version() AS version').get()?.version);
  } finally {
    db.close();
  }
}

async function imageOf(file: string): Promise<[Buffer, number]> {
  const { header, bytes } = await readImageFile(file);
  return [header, bytes];
}

async function integrityProblems(file: string): Promise<string[]> {
  try {
    const { problems } = await runWorker({ op: 'check', path: file, counts: false });
    return problems ?? [];
  } catch (err) {
    return [errorMessage(err)];
  }
}

/** The restore test's checks: `integrity_check` first, then the row counts once the file is sound. */
async function checkRestored(file: string, expected: BackupContent): Promise<Check[]> {
  const image = checkImage(...(await imageOf(file)));
  if (!image.ok)
    return [{ name: 'integrity_check', ok: false, detail: image.detail ?? 'not a complete SQLite database' }];
  let tables: TableCount[] | undefined;
  let problems: string[];
  try {
    const result = await runWorker({ op: 'check', path: file, counts: true });
    problems = result.problems ?? [];
    tables = result.tables;
  } catch (err) {
    problems = [errorMessage(err)];
  }
  if (problems.length > 0 || tables === undefined)
    return [
      {
        name: 'integrity_check',
        ok: false,
        expected: 'ok',
        detail: problems.length > 0 ? summarize(problems) : 'no result',
      },
    ];
  return [
    { name: 'integrity_check', ok: true, expected: 'ok', actual: 'ok' },
    ...compareCounts(expected.tables, tables),
  ];
}

function summarize(problems: string[]): string {
  const first = oneLine(problems[0] ?? '');
  return problems.length > 1 ? `${first} (and ${problems.length - 1} more)` : first;
}

function assertFileName(name: string): void {
  // The name becomes a file name; a separator or ".." would put the scratch copy (and its removal) elsewhere.
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name))
    throw new RangeError(`scratch name must be a plain file name, got "${name}"`);
}
