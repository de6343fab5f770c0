import type { Readable } from 'node:stream';
import type { ArtifactFormat, BackupContent, Check, TableCount } from '@tidemark/manifest';
import type { Client } from 'pg';
import { compareCounts } from '../compare-counts';
import { countLines, describeFailure, feed, startTool, type RunningTool, type ToolExit } from '../process';
import {
  SourceError,
  type DumpHandle,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  type SourceErrorCode,
  type SourceInfo,
  type SourceOptions,
  type SourceSettings,
  type StreamSource,
  type StructureCheckResult,
} from '../source';
import {
  address,
  connect,
  connectError,
  errorCode,
  errorMessage,
  parsePostgresUrl,
  redact,
  toolEnv,
  type PgTarget,
} from './connection';
import { COUNT_SESSION_SETTINGS, countRows, listTables, quoteIdent } from './counts';
import { assertNewEnough, findTool, type PgTool, type PgToolName } from './tools';

interface ServerVersion {
  /** `15.20`: the first word of server_version. */
  version: string;
  versionNum: number;
  major: number;
}

const MAX_IDENTIFIER_BYTES = 63;

export class PostgresSource implements StreamSource {
  readonly kind = 'postgres';
  readonly incremental = false;
  readonly format: ArtifactFormat = 'pg_dump-custom';
  private readonly target: PgTarget;
  private readonly env: NodeJS.ProcessEnv;
  private readonly binDir: string | undefined;

  private readonly settings: SourceSettings;

  constructor(url: string, options: SourceOptions & { settings?: SourceSettings | undefined } = {}) {
    this.env = options.env ?? process.env;
    this.binDir = options.binDir;
    this.settings = options.settings ?? {};
    this.target = parsePostgresUrl(url, this.env);
  }

  async preCheck(): Promise<SourceInfo> {
    const client = await connect(this.target, this.target.database);
    try {
      const server = await this.query('source-unreachable', () => serverVersion(client));
      const tool = await this.dumpTool(server);
      const size = await this.query('source-unreachable', () =>
        client.query<{ size: string }>('SELECT pg_database_size(current_database())::text AS size'),
      );
      return {
        kind: this.kind,
        database: this.target.database,
        host: address(this.target),
        serverVersion: server.version,
        serverMajor: server.major,
        dumpTool: tool.label,
        estimatedBytes: Number(size.rows[0]?.size ?? 0),
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async dump(): Promise<DumpHandle> {
    const client = await connect(this.target, this.target.database);
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => (closed ??= client.end().catch(() => undefined));
    let tool: RunningTool;
    try {
      const server = await this.query('dump-failed', () => serverVersion(client));
      const pgDump = await this.dumpTool(server);
      const snapshot = await this.query('dump-failed', async () => {
        await client.query(COUNT_SESSION_SETTINGS);
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
        const id = rows[0]?.id;
        if (!id) throw new Error('pg_export_snapshot() returned nothing');
        return id;
      });
      tool = startTool(
        pgDump.path,
        ['-Fc', '-Z0', `--snapshot=${snapshot}`, '--no-password'],
        toolEnv(this.target, this.target.database, this.env),
        { stdin: false, stdout: true },
      );
    } catch (err) {
      await close();
      throw err;
    }
    const stdout = tool.stdout;
    if (!stdout) throw new Error('pg_dump was started without a stdout pipe');

    // Counted on the exporting connection, so inside the very snapshot pg_dump imported.
    const tables = countRows(client);
    tables.catch(() => undefined);
    const content = tables.then((counted): BackupContent => ({ tables: counted }));
    content.catch(() => undefined);
    const state = { aborted: false };
    const finished = (async () => {
      try {
        const exit = await tool.exit;
        if (state.aborted) throw new SourceError('dump-failed', 'pg_dump was aborted');
        if (exit.code !== 0)
          throw new SourceError('dump-failed', this.clean(describeFailure('pg_dump', exit)));
        await this.query('dump-failed', async () => {
          await tables;
          await client.query('COMMIT');
        });
      } finally {
        // Only now may the snapshot go: pg_dump needed it until it exited.
        await close();
      }
    })();
    // Callers that abort may never await `finished`; that must not become an unhandled rejection.
    finished.catch(() => undefined);
    return {
      stdout,
      content,
      finished,
      abort: () => {
        state.aborted = true;
        tool.kill();
        void close();
      },
    };
  }

  async checkStructure(input: Readable): Promise<StructureCheckResult> {
    const pgRestore = await this.tool('pg_restore', undefined);
    // --list reads only the archive's table of contents, so it needs no connection parameters.
    const tool = startTool(pgRestore.path, ['--list'], toolEnv(this.target, undefined, this.env), {
      stdin: true,
      stdout: true,
    });
    if (!tool.stdin || !tool.stdout) throw new Error('pg_restore was started without pipes');
    const entries = countLines(tool.stdout, (line) => line.trim() !== '' && !line.startsWith(';'));
    entries.catch(() => undefined);
    await this.feedTool(input, tool);
    const exit = await tool.exit;
    const count = await entries.catch(() => 0);
    if (exit.code !== 0) {
      return {
        ok: false,
        tool: pgRestore.label,
        entries: count,
        detail: this.clean(describeFailure('pg_restore', exit)),
      };
    }
    if (count === 0)
      return { ok: false, tool: pgRestore.label, entries: 0, detail: 'the archive lists no entries' };
    return { ok: true, tool: pgRestore.label, entries: count };
  }

  async restoreTest(input: Readable, expected: BackupContent, scratch: Scratch): Promise<RestoreTestResult> {
    const scratchName = scratch.name;
    assertIdentifier(scratchName);
    const started = performance.now();
    const admin = await this.connectMaintenance();
    let created = false;
    let server: ServerVersion | undefined;
    let outcome: { result: RestoreTestResult } | { error: unknown };
    try {
      server = await this.query('restore-failed', () => serverVersion(admin));
      await this.query(
        'restore-failed',
        () => admin.query(`CREATE DATABASE ${quoteIdent(scratchName)} TEMPLATE template0`),
        {
          prefix: `cannot create scratch database "${scratchName}"`,
        },
      );
      created = true;
      const exit = await this.pgRestore(input, scratchName, server, [
        '--no-owner',
        '--no-acl',
        '--exit-on-error',
      ]);
      let checks: Check[];
      if (exit.code !== 0) {
        checks = [{ name: 'pg_restore', ok: false, detail: this.clean(describeFailure('pg_restore', exit)) }];
      } else {
        checks = compareCounts(expected.tables, await this.countIn(scratchName));
      }
      outcome = {
        result: {
          ok: checks.every((check) => check.ok),
          durationMs: Math.round(performance.now() - started),
          scratch: scratchName,
          checks,
        },
      };
    } catch (err) {
      outcome = { error: err };
    }
    try {
      if (created && server) await this.dropDatabase(admin, scratchName, server);
    } catch (err) {
      // A leaked scratch database is worth failing for, unless something already failed first.
      if (!('error' in outcome)) throw err;
    } finally {
      await admin.end().catch(() => undefined);
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.result;
  }

  async restore(input: Readable, options: RestoreOptions): Promise<void> {
    const database = this.target.database;
    const admin = await this.connectMaintenance();
    let server: ServerVersion;
    try {
      server = await this.query('restore-failed', () => serverVersion(admin));
      const exists = await this.query('restore-failed', () =>
        admin.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [database]),
      );
      if (exists.rowCount === 0) {
        await this.query(
          'restore-failed',
          () => admin.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0`),
          {
            prefix: `cannot create database "${database}"`,
          },
        );
      } else if (!options.clean) {
        const client = await connect(this.target, database);
        try {
          const tables = await this.query('restore-failed', () => listTables(client));
          if (tables.length > 0) {
            const noun = tables.length === 1 ? 'table' : 'tables';
            throw new SourceError(
              'target-not-empty',
              `database "${database}" already has ${tables.length} ${noun}; pass --clean to replace them`,
            );
          }
        } finally {
          await client.end().catch(() => undefined);
        }
      }
    } finally {
      await admin.end().catch(() => undefined);
    }
    const flags = ['--no-owner', '--exit-on-error', ...(options.clean ? ['--clean', '--if-exists'] : [])];
    const exit = await this.pgRestore(input, database, server, flags);
    if (exit.code !== 0)
      throw new SourceError('restore-failed', this.clean(describeFailure('pg_restore', exit)));
  }

  async tableCounts(): Promise<TableCount[]> {
    return this.countIn(this.target.database);
  }

  /** Counts in one read-only snapshot so the numbers belong to a single moment. */
  private async countIn(database: string): Promise<TableCount[]> {
    const client = await connect(this.target, database);
    try {
      return await this.query('source-unreachable', async () => {
        await client.query(COUNT_SESSION_SETTINGS);
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const counts = await countRows(client);
        await client.query('COMMIT');
        return counts;
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** pg_restore into `database` from stdin; the database goes through PGDATABASE, `--dbname=` only selects direct mode. */
  private async pgRestore(
    input: Readable,
    database: string,
    server: ServerVersion,
    flags: string[],
  ): Promise<ToolExit> {
    const pgRestore = await this.tool('pg_restore', server);
    const tool = startTool(
      pgRestore.path,
      [...flags, '--no-password', '--dbname='],
      toolEnv(this.target, database, this.env),
      { stdin: true, stdout: false },
    );
    await this.feedTool(input, tool);
    return tool.exit;
  }

  /** Feeds the whole input to the tool; if the input itself fails, the tool is stopped and the input's error thrown. */
  private async feedTool(input: Readable, tool: RunningTool): Promise<void> {
    if (!tool.stdin) throw new Error('tool was started without a stdin pipe');
    try {
      await feed(input, tool.stdin);
    } catch (err) {
      tool.kill();
      await tool.exit;
      throw err;
    }
  }

  /** The maintenance database for CREATE/DROP DATABASE; template1 where a provider removed 'postgres'. */
  private async connectMaintenance(): Promise<Client> {
    try {
      return await connect(this.target, 'postgres');
    } catch (err) {
      if (err instanceof SourceError && err.code === 'source-missing-database')
        return connect(this.target, 'template1');
      throw err;
    }
  }

  private async dropDatabase(admin: Client, name: string, server: ServerVersion): Promise<void> {
    await this.query(
      'restore-failed',
      async () => {
        if (server.versionNum >= 130000) {
          await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
          return;
        }
        await admin.query(
          'SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [name],
        );
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
      },
      { prefix: `cannot drop scratch database "${name}"` },
    );
  }

  private async dumpTool(server: ServerVersion): Promise<PgTool> {
    const tool = await this.tool('pg_dump', server);
    assertNewEnough(tool, server);
    return tool;
  }

  private tool(name: PgToolName, server: ServerVersion | undefined): Promise<PgTool> {
    return findTool(name, { binDir: this.binDir, env: this.env, serverMajor: server?.major });
  }

  /** Runs server work, turning anything unexpected into a one-line SourceError without the password. */
  private async query<T>(
    code: SourceErrorCode,
    work: () => Promise<T>,
    options: { prefix?: string } = {},
  ): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof SourceError) throw err;
      if (isConnectionFailure(err)) throw connectError(err, this.target, this.target.database);
      const message = this.clean(errorMessage(err));
      throw new SourceError(code, options.prefix ? `${options.prefix}: ${message}` : message);
    }
  }

  private clean(text: string): string {
    return redact(text, this.target.password);
  }
}

async function serverVersion(client: Client): Promise<ServerVersion> {
  const { rows } = await client.query<{ version: string; num: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
  );
  const row = rows[0];
  if (!row) throw new Error('the server reported no version');
  const versionNum = Number(row.num);
  return {
    version: row.version.split(' ')[0] ?? row.version,
    versionNum,
    major: Math.floor(versionNum / 10000),
  };
}

function isConnectionFailure(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && /^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|57P0)/.test(code);
}

function assertIdentifier(name: string): void {
  const bytes = Buffer.byteLength(name);
  // PostgreSQL would silently truncate a longer name, and the DROP could then miss or hit another database.
  if (bytes === 0 || bytes > MAX_IDENTIFIER_BYTES) {
    throw new RangeError(`scratch database name must be 1-${MAX_IDENTIFIER_BYTES} bytes, got ${bytes}`);
  }
}
