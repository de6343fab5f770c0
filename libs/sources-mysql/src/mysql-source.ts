import { Readable, Transform, pipeline } from 'node:stream';
import type { ArtifactFormat, BackupContent, Check, TableCount } from '@tidemark/manifest';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import {
  restoreTestResult,
  busyError,
  compareCounts,
  describeFailure,
  type DumpHandle,
  errorMessage,
  feedTool,
  restoreInProgressError,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  serverWork,
  type Source,
  SourceError,
  type SourceErrorCode,
  type SourceInfo,
  type SourceOptions,
  type SourceTarget,
  type StreamSource,
  type StructureCheckResult,
  type ToolExit,
} from '@tidemark/source-contract';
import { redact } from '@tidemark/redaction';
import {
  address,
  close,
  connect,
  CONNECT_TIMEOUT_SECONDS,
  parseMysqlUrl,
  quoteIdent,
  serverFailures,
  type MysqlTarget,
} from './connection';
import { COUNT_SCHEMA, countObjects, countRows } from './counts';
import { DumpScanner, type DumpScan } from './dump-scanner';
import { moveDatabase, RESTORE_REPLACED_PREFIX, RESTORE_STAGING_PREFIX, stagingName } from './staged-restore';
import { findTool, startMysqlTool, type MysqlTool, type ToolRole } from './tools';

export function createMysqlSource(target: SourceTarget, options: SourceOptions): Source {
  return new MysqlSource(target.url, options);
}

// Both sides may carry rows up to the protocol's limit; the tools' defaults (16-24 MiB) fail on large blobs.
const MAX_PACKET = '--max-allowed-packet=1G';

/**
 * One database, without CREATE DATABASE / USE, so the dump restores under any name. `--comments` keeps the
 * `-- Dump completed` line (the proof the dump is whole) even if an option file says skip-comments;
 * `--no-tablespaces` avoids needing PROCESS on MySQL 8 and tablespace DDL that would not restore elsewhere.
 */
const DUMP_FLAGS = [
  '--single-transaction',
  '--routines',
  '--triggers',
  '--events',
  '--hex-blob',
  '--default-character-set=utf8mb4',
  '--comments',
  '--no-tablespaces',
  MAX_PACKET,
];

const CLIENT_FLAGS = [
  '--default-character-set=utf8mb4',
  MAX_PACKET,
  `--connect-timeout=${CONNECT_TIMEOUT_SECONDS}`,
];

const SCRATCH_NAME = /^[a-z0-9_]{1,64}$/;
const DUMP_HEADER = /^-- (MySQL|MariaDB) dump\b/i;

interface ServerVersion {
  /** `10.11.19-MariaDB` or `8.0.36`: the release without the distribution's suffix. */
  version: string;
  major: number;
}

export class MysqlSource implements StreamSource {
  readonly kind = 'mysql';
  readonly incremental = false;
  readonly format: ArtifactFormat = 'mysqldump-sql';
  private readonly target: MysqlTarget;
  private readonly env: NodeJS.ProcessEnv;
  private readonly binDir: string | undefined;

  constructor(url: string, options: SourceOptions = {}) {
    this.env = options.env ?? process.env;
    this.binDir = options.binDir;
    this.target = parseMysqlUrl(url);
  }

  async preCheck(): Promise<SourceInfo> {
    const connection = await connect(this.target, this.target.database);
    try {
      const server = await this.query('source-unreachable', () => serverVersion(connection));
      const tool = await this.tool('dump');
      const [rows] = await this.query('source-unreachable', () =>
        connection.query<RowDataPacket[]>(
          `SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS size
           FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`,
          [this.target.database],
        ),
      );
      return {
        kind: this.kind,
        database: this.target.database,
        host: address(this.target),
        serverVersion: server.version,
        serverMajor: server.major,
        dumpTool: tool.label,
        estimatedBytes: Number(rows[0]?.['size'] ?? 0),
      };
    } finally {
      await close(connection);
    }
  }

  async dump(): Promise<DumpHandle> {
    // The tool reports every problem as a bare exit code; connecting first gives the failure its real code.
    await close(await connect(this.target, this.target.database));
    const tool = await this.tool('dump');
    const running = await startMysqlTool(
      tool,
      this.target,
      [...DUMP_FLAGS, '--', this.target.database],
      this.env,
      { stdin: false, stdout: true },
    );
    const stdout = running.stdout;
    if (!stdout) throw new Error(`${tool.name} was started without a stdout pipe`);

    // The counts come from the bytes themselves, so they describe the dump exactly, whatever writers do meanwhile.
    const scanner = new DumpScanner();
    let settle: { resolve: (scan: DumpScan) => void; reject: (err: Error) => void } | undefined;
    const scanned = new Promise<DumpScan>((resolve, reject) => {
      settle = { resolve, reject };
    });
    scanned.catch(() => undefined);
    const passThrough = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        scanner.push(chunk);
        done(null, chunk);
      },
      flush(done) {
        settle?.resolve(scanner.end());
        done();
      },
    });
    pipeline(stdout, passThrough, (err) => {
      if (err) settle?.reject(err);
    });

    const state = { aborted: false };
    const outcome = (async (): Promise<DumpScan> => {
      const exit = await running.exit;
      if (state.aborted) throw new SourceError('dump-failed', `${tool.name} was aborted`);
      if (exit.code !== 0) throw new SourceError('dump-failed', this.clean(describeFailure(tool.name, exit)));
      const scan = await scanned.catch((err: unknown) => {
        throw new SourceError('dump-failed', `reading ${tool.name} output failed: ${errorMessage(err)}`);
      });
      if (!scan.completed) {
        throw new SourceError(
          'dump-failed',
          `${tool.name} exited 0 but its output lacks the "-- Dump completed" line`,
        );
      }
      return scan;
    })();
    // Only a dump that ended well has counts; they settle a tick before `finished`, as the contract asks.
    const content = outcome.then((scan): BackupContent => ({
      tables: scan.tables.map((t) => ({ schema: COUNT_SCHEMA, ...t })),
    }));
    const finished = content.then(() => undefined);
    // Callers that abort may never await these; that must not become an unhandled rejection.
    content.catch(() => undefined);
    finished.catch(() => undefined);
    return {
      stdout: passThrough,
      content,
      finished,
      abort: () => {
        state.aborted = true;
        running.kill();
      },
    };
  }

  async checkStructure(input: Readable): Promise<StructureCheckResult> {
    const scanner = new DumpScanner();
    for await (const chunk of input as AsyncIterable<Buffer | string>) scanner.push(asBuffer(chunk));
    const scan = scanner.end();
    const tool = 'sql scan';
    const problem = structureProblem(scan);
    return problem
      ? { ok: false, tool, entries: scan.createTables, detail: problem }
      : { ok: true, tool, entries: scan.createTables };
  }

  async restoreTest(input: Readable, expected: BackupContent, scratch: Scratch): Promise<RestoreTestResult> {
    const name = scratch.name;
    // The name is dropped afterwards: it must never be able to hit anything else.
    if (!SCRATCH_NAME.test(name)) {
      throw new RangeError(`scratch database name must match ${SCRATCH_NAME.source}, got "${name}"`);
    }
    const started = performance.now();
    const client = await this.tool('client');
    const admin = await connect(this.target, undefined);
    let created = false;
    let outcome: { result: RestoreTestResult } | { error: unknown };
    try {
      const prefix = `cannot create scratch database "${name}"`;
      // Names are unique per attempt; one taken anyway is a leftover of this very name.
      await this.query('restore-failed', () => admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`), {
        prefix,
      });
      await this.query('restore-failed', () => admin.query(`CREATE DATABASE ${quoteIdent(name)}`), {
        prefix,
      });
      created = true;
      const { exit, scan } = await this.runClient(client, input, name);
      const checks: Check[] =
        exit.code === 0
          ? compareCounts(expected.tables, await this.countIn(name))
          : [{ name: client.name, ok: false, detail: this.clean(describeFailure(client.name, exit)) }];
      const problem = structureProblem(scan);
      checks.push(
        problem ? { name: 'dump complete', ok: false, detail: problem } : { name: 'dump complete', ok: true },
      );
      outcome = {
        result: restoreTestResult(name, checks, started),
      };
    } catch (err) {
      outcome = { error: err };
    }
    try {
      if (created) {
        await this.query('restore-failed', () => admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`), {
          prefix: `cannot drop scratch database "${name}"`,
        });
      }
    } catch (err) {
      // A leaked scratch database is worth failing for, unless something already failed first.
      if (!('error' in outcome)) throw err;
    } finally {
      await close(admin);
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.result;
  }

  async removeScratchLeftovers(
    prefix: string,
    isLive: (name: string) => Promise<boolean>,
  ): Promise<string[]> {
    const admin = await connect(this.target, undefined);
    try {
      return await this.query('restore-failed', async () => {
        const [rows] = await admin.query<RowDataPacket[]>(
          'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ?) = ? ORDER BY 1',
          [prefix.length, prefix],
        );
        const dropped: string[] = [];
        for (const name of rows.map((row) => String(row['name']))) {
          if (!SCRATCH_NAME.test(name) || (await isLive(name))) continue;
          // MySQL drops a database under a reader's feet: one with a session in it belongs to a running test.
          if ((await sessionsIn(admin, name)) > 0) continue;
          await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
          dropped.push(name);
        }
        return dropped;
      });
    } finally {
      await close(admin);
    }
  }

  /**
   * Restores into a staging database and moves it into place only once the client has applied the whole dump
   * (checked by the caller as it streams, and by the scan for its last line): a failed restore leaves the
   * target as it was. With `clean` the old objects are moved aside first and dropped once the new ones are in.
   */
  async restore(input: Readable, options: RestoreOptions): Promise<void> {
    const database = this.target.database;
    const staging = stagingName(RESTORE_STAGING_PREFIX, database);
    const client = await this.tool('client');
    const admin = await connect(this.target, undefined);
    try {
      const existing = await this.query('restore-failed', () =>
        this.checkReplaceable(admin, database, options.clean),
      );
      await this.query('restore-failed', () => this.removeRestoreLeftovers(admin, database));
      await this.query(
        'restore-failed',
        () => admin.query(`CREATE DATABASE ${quoteIdent(staging)}${existing?.defaults ?? ''}`),
        { prefix: `cannot create the staging database "${staging}" the restore is built in` },
      );
      try {
        const { exit, scan } = await this.runClient(client, input, staging);
        const problem =
          exit.code === 0 ? structureProblem(scan) : this.clean(describeFailure(client.name, exit));
        if (problem)
          throw new SourceError('restore-failed', `${problem}; database "${database}" was not changed`);
        await this.swapIntoPlace(admin, staging, database, existing);
      } catch (err) {
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(staging)}`).catch(() => undefined);
        throw err;
      }
    } finally {
      await close(admin);
    }
  }

  /** The target's defaults when it exists; refuses one with objects unless `clean`, or one in use. */
  private async checkReplaceable(
    admin: Connection,
    database: string,
    clean: boolean,
  ): Promise<{ defaults: string } | undefined> {
    const [schemata] = await admin.query<RowDataPacket[]>(
      `SELECT DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation
       FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`,
      [database],
    );
    const existing = schemata[0];
    if (!existing) return undefined;
    const objects = await countObjects(admin, database);
    if (!clean && objects > 0) {
      const noun = objects === 1 ? 'table' : 'tables';
      throw new SourceError(
        'target-not-empty',
        `database "${database}" already has ${objects} ${noun}; pass --clean to replace them`,
      );
    }
    const sessions = await sessionsIn(admin, database);
    if (sessions > 0) throw busyError(database, sessions);
    // The new database keeps the old default character set, so tables created later behave as before.
    const charset = String(existing['charset']);
    const collation = String(existing['collation']);
    return {
      defaults:
        /^\w+$/.test(charset) && /^\w+$/.test(collation)
          ? ` CHARACTER SET ${charset} COLLATE ${collation}`
          : '',
    };
  }

  /** What a killed restore of `database` left: its staging database, and objects it had moved aside. */
  private async removeRestoreLeftovers(admin: Connection, database: string): Promise<void> {
    for (const name of [
      stagingName(RESTORE_STAGING_PREFIX, database),
      stagingName(RESTORE_REPLACED_PREFIX, database),
    ]) {
      if ((await sessionsIn(admin, name)) > 0) throw restoreInProgressError(database, name);
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
    }
  }

  private async swapIntoPlace(
    admin: Connection,
    staging: string,
    database: string,
    existing: { defaults: string } | undefined,
  ): Promise<void> {
    const replaced = stagingName(RESTORE_REPLACED_PREFIX, database);
    // A session that holds a table of the old database would otherwise stall the rename indefinitely.
    await admin.query('SET SESSION lock_wait_timeout = 60');
    if (existing) {
      await this.query(
        'restore-failed',
        async () => {
          await admin.query(`CREATE DATABASE ${quoteIdent(replaced)}${existing.defaults}`);
          await moveDatabase(admin, database, replaced);
          await admin.query(`CREATE DATABASE ${quoteIdent(database)}${existing.defaults}`);
        },
        { prefix: `cannot move the old objects of "${database}" aside` },
      );
    } else {
      await this.query('restore-failed', () => admin.query(`CREATE DATABASE ${quoteIdent(database)}`));
    }
    await this.query('restore-failed', () => moveDatabase(admin, staging, database), {
      prefix: existing
        ? `cannot move the restored objects into "${database}" (its previous objects are kept in "${replaced}")`
        : `cannot move the restored objects into "${database}"`,
    });
    if (existing) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(replaced)}`).catch(() => undefined);
  }

  async queryValue(sql: string): Promise<unknown> {
    const connection = await connect(this.target, this.target.database);
    try {
      return await this.query(
        'restore-failed',
        async () => {
          const [rows] = await connection.query({ sql, rowsAsArray: true });
          const first = Array.isArray(rows) ? (rows[0] as unknown[] | undefined) : undefined;
          return first?.[0] ?? null;
        },
        { prefix: 'the statement failed' },
      );
    } finally {
      await close(connection);
    }
  }

  async tableCounts(): Promise<TableCount[]> {
    return this.countIn(this.target.database);
  }

  /** Pipes the dump into the client, scanning it on the way so a dump that was cut short is noticed. */
  private async runClient(
    client: MysqlTool,
    input: Readable,
    database: string,
  ): Promise<{ exit: ToolExit; scan: DumpScan }> {
    const running = await startMysqlTool(
      client,
      this.target,
      [...CLIENT_FLAGS, `--database=${database}`],
      this.env,
      { stdin: true, stdout: false },
    );
    const scanner = new DumpScanner();
    await feedTool(Readable.from(scanning(input, scanner), { objectMode: false }), running);
    const exit = await running.exit;
    return { exit, scan: scanner.end() };
  }

  private async countIn(database: string): Promise<TableCount[]> {
    const connection = await connect(this.target, database);
    try {
      return await this.query('source-unreachable', () => countRows(connection, database));
    } finally {
      await close(connection);
    }
  }

  private tool(role: ToolRole): Promise<MysqlTool> {
    return findTool(role, { binDir: this.binDir, env: this.env });
  }

  /** Runs server work, turning anything unexpected into a one-line SourceError without the password. */
  private query<T>(
    code: SourceErrorCode,
    work: () => Promise<T>,
    options: { prefix?: string } = {},
  ): Promise<T> {
    return serverWork(serverFailures(this.target), code, work, options);
  }

  private clean(text: string): string {
    return redact(text, [this.target.password]);
  }
}

async function sessionsIn(admin: Connection, database: string): Promise<number> {
  const [rows] = await admin.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
    [database],
  );
  return Number(rows[0]?.['n'] ?? 0);
}

async function serverVersion(connection: Connection): Promise<ServerVersion> {
  const [rows] = await connection.query<RowDataPacket[]>('SELECT VERSION() AS version');
  const full = String(rows[0]?.['version'] ?? '');
  const match = /^(\d+)\.\d+\.\d+(-MariaDB)?/.exec(full);
  if (!match) return { version: full, major: 0 };
  return { version: match[0], major: Number(match[1]) };
}

/** Why a scanned dump is not a whole mysqldump file, or undefined when it is. */
function structureProblem(scan: DumpScan): string | undefined {
  if (!scan.header || !DUMP_HEADER.test(scan.header))
    return 'the input does not start like a mysqldump or mariadb-dump file';
  if (!scan.completed) {
    return scan.endedCleanly
      ? 'the dump ends without its "-- Dump completed" line (truncated)'
      : 'the dump ends inside a statement (truncated)';
  }
  return undefined;
}

async function* scanning(input: Readable, scanner: DumpScanner): AsyncGenerator<Buffer> {
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const bytes = asBuffer(chunk);
    scanner.push(bytes);
    yield bytes;
  }
}

const asBuffer = (chunk: Buffer | string): Buffer => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
