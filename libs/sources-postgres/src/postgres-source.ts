import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ArtifactFormat, BackupContent, Check, TableCount } from '@tidemark/manifest';
import type { Client } from 'pg';
import {
  restoreTestResult,
  busyError,
  compareCounts,
  type DumpContext,
  type DumpHandle,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  SourceError,
  type SourceInfo,
  type SourceOptions,
  type StreamSource,
  type StructureCheckResult,
} from '@tidemark/source-contract';
import type { PostgresSettings } from './settings';
import { address, parsePostgresUrl } from './connection';
import { PgContext } from './context';
import { COUNT_SESSION_SETTINGS, countRows, listTables, quoteIdent } from './counts';
import { dumpJobs, startDump } from './dump';
import { buildExclusion, NO_EXCLUSION, type Exclusion } from './excludes';
import { restoreArchive, type RestoreOutcome } from './restore-archive';
import { serverVersion, type ServerVersion } from './server';
import {
  createStaging,
  databaseShape,
  dropIfUnused,
  otherSessions,
  removeLeftovers,
  RESTORE_STAGING_PREFIX,
  stagingName,
  swapIntoPlace,
} from './staged-restore';
import { checkArchive } from './structure';
import { compareHypertables, hypertableCounts, timescaleVersion } from './timescale';

const MAX_IDENTIFIER_BYTES = 63;

/** What preCheck learns beyond SourceInfo: the TimescaleDB version when the database has the extension. */
export interface PostgresSourceInfo extends SourceInfo {
  timescaledb?: string;
}

/** One PostgreSQL database: `pg_dump -Fc` (or `-Fd -j N` as a tar), row counts in the dump's own snapshot. */
export class PostgresSource implements StreamSource {
  readonly kind = 'postgres';
  readonly incremental = false;
  private readonly ctx: PgContext;
  private readonly settings: PostgresSettings;

  constructor(url: string, options: SourceOptions & { settings?: PostgresSettings | undefined } = {}) {
    this.settings = options.settings ?? {};
    this.ctx = new PgContext(parsePostgresUrl(url, options.env ?? process.env), options);
  }

  get format(): ArtifactFormat {
    return dumpJobs(this.settings) >= 2 ? 'pg_dump-directory-tar' : 'pg_dump-custom';
  }

  async preCheck(): Promise<PostgresSourceInfo> {
    const { ctx } = this;
    const database = ctx.target.database;
    const client = await ctx.connect(database);
    try {
      const server = await ctx.query('source-unreachable', () => serverVersion(client));
      buildExclusion(this.settings, database, server.versionNum);
      const tool = await ctx.dumpTool('pg_dump', server);
      const { size, timescale } = await ctx.query('source-unreachable', async () => {
        const result = await client.query<{ size: string }>(
          'SELECT pg_database_size(current_database())::text AS size',
        );
        return { size: Number(result.rows[0]?.size ?? 0), timescale: await timescaleVersion(client) };
      });
      return {
        kind: this.kind,
        database,
        host: address(ctx.target),
        serverVersion: server.version,
        serverMajor: server.major,
        dumpTool: tool.label,
        estimatedBytes: size,
        ...(timescale === undefined ? {} : { timescaledb: timescale }),
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  dump(context?: DumpContext): Promise<DumpHandle> {
    return startDump(this.ctx, this.settings, context);
  }

  checkStructure(input: Readable): Promise<StructureCheckResult> {
    return checkArchive(this.ctx, input);
  }

  async restoreTest(input: Readable, expected: BackupContent, scratch: Scratch): Promise<RestoreTestResult> {
    const { ctx } = this;
    const scratchName = scratch.name;
    assertIdentifier(scratchName);
    const started = performance.now();
    // Named after the scratch, so what a killed test leaves in the directory is recognised as its leftover.
    const unpackDir = join(scratch.dir, `${scratchName}.unpack`);
    const admin = await ctx.connectMaintenance();
    let created = false;
    let server: ServerVersion | undefined;
    let outcome: { result: RestoreTestResult } | { error: unknown };
    try {
      server = await ctx.query('restore-failed', () => serverVersion(admin));
      await ctx.query(
        'restore-failed',
        () => admin.query(`CREATE DATABASE ${quoteIdent(scratchName)} TEMPLATE template0`),
        { prefix: `cannot create scratch database "${scratchName}"` },
      );
      created = true;
      const restored = await restoreArchive(ctx, input, {
        database: scratchName,
        server,
        flags: ['--no-owner', '--no-acl', '--exit-on-error'],
        jobs: dumpJobs(this.settings),
        unpackDir,
        timescale: expected.hypertables !== undefined,
      });
      const checks = restored.ok ? await this.compare(scratchName, expected) : [failedCheck(restored)];
      outcome = {
        result: restoreTestResult(scratchName, checks, started),
      };
    } catch (err) {
      outcome = { error: err };
    }
    try {
      if (created && server) await ctx.dropDatabase(admin, scratchName, server);
    } catch (err) {
      // A leaked scratch database is worth failing for, unless something already failed first.
      if (!('error' in outcome)) throw err;
    } finally {
      await admin.end().catch(() => undefined);
      await rm(unpackDir, { recursive: true, force: true });
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.result;
  }

  async removeScratchLeftovers(
    prefix: string,
    isLive: (name: string) => Promise<boolean>,
  ): Promise<string[]> {
    const { ctx } = this;
    const admin = await ctx.connectMaintenance();
    try {
      const names = await ctx.query('restore-failed', async () => {
        const { rows } = await admin.query<{ datname: string }>(
          'SELECT datname FROM pg_catalog.pg_database WHERE starts_with(datname, $1) ORDER BY 1',
          [prefix],
        );
        return rows.map((row) => row.datname);
      });
      const dropped: string[] = [];
      for (const name of names) {
        if (await isLive(name)) continue;
        // Not forced: a scratch database someone is connected to belongs to a restore test that is running.
        const gone = await ctx.query('restore-failed', () => dropIfUnused(admin, name), {
          prefix: `cannot drop scratch database "${name}"`,
        });
        if (gone) dropped.push(name);
      }
      return dropped;
    } finally {
      await admin.end().catch(() => undefined);
    }
  }

  /**
   * Restores into a staging database and renames it into place only once pg_restore has succeeded (and so the
   * input, checked by the caller as it streams, was whole): a failed restore leaves the target as it was.
   */
  async restore(input: Readable, options: RestoreOptions): Promise<void> {
    const { ctx } = this;
    const database = ctx.target.database;
    const staging = stagingName(RESTORE_STAGING_PREFIX, database);
    const admin = await ctx.connectMaintenance();
    try {
      const server = await ctx.query('restore-failed', () => serverVersion(admin));
      const existing = await ctx.query('restore-failed', () => databaseShape(admin, database));
      const timescale = existing ? await this.checkReplaceable(admin, database, options.clean) : false;
      await removeLeftovers(ctx, admin, database);
      await createStaging(ctx, admin, staging, existing);
      try {
        const restored = await restoreArchive(ctx, input, {
          database: staging,
          server,
          flags: ['--no-owner', '--exit-on-error'],
          jobs: dumpJobs(this.settings),
          unpackDir: tmpdir(),
          timescale,
        });
        if (!restored.ok)
          throw new SourceError(
            'restore-failed',
            `${restored.detail}; database "${database}" was not changed`,
          );
        await swapIntoPlace(ctx, admin, staging, database, existing ? { server } : undefined);
      } catch (err) {
        await ctx.dropDatabase(admin, staging, server, 'staging').catch(() => undefined);
        throw err;
      }
    } finally {
      await admin.end().catch(() => undefined);
    }
  }

  /**
   * An existing target is replaced only with `clean` (or when it has no tables) and only when nobody is connected
   * to it, which is checked before anything is written. Says whether it holds TimescaleDB.
   */
  private async checkReplaceable(admin: Client, database: string, clean: boolean): Promise<boolean> {
    const { ctx } = this;
    const client = await ctx.connect(database);
    let timescale: boolean;
    try {
      // Restoring over a TimescaleDB database needs the wrapping whatever the archive says.
      timescale = (await ctx.query('restore-failed', () => timescaleVersion(client))) !== undefined;
      const tables = clean ? [] : await ctx.query('restore-failed', () => listTables(client));
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
    const sessions = await ctx.query('restore-failed', () => otherSessions(admin, database));
    if (sessions > 0) throw busyError(database, sessions);
    return timescale;
  }

  /** The tables a backup of this database would hold (excluded ones left out), counted in one snapshot. */
  async queryValue(sql: string): Promise<unknown> {
    const client = await this.ctx.connect(this.ctx.target.database);
    try {
      return await this.ctx.query(
        'restore-failed',
        async () => {
          const { rows } = await client.query<unknown[]>({ text: sql, rowMode: 'array' });
          return rows[0]?.[0] ?? null;
        },
        { prefix: 'the statement failed' },
      );
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async tableCounts(): Promise<TableCount[]> {
    const database = this.ctx.target.database;
    const client = await this.ctx.connect(database);
    try {
      return await this.ctx.query('source-unreachable', async () => {
        const server = await serverVersion(client);
        return this.countIn(client, buildExclusion(this.settings, database, server.versionNum));
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Row counts and, with TimescaleDB, hypertable counts of the restored scratch database against the backup's. */
  private async compare(database: string, expected: BackupContent): Promise<Check[]> {
    const client = await this.ctx.connect(database);
    try {
      return await this.ctx.query('restore-failed', async () => {
        const checks = compareCounts(expected.tables, await this.countIn(client, NO_EXCLUSION));
        if (expected.hypertables === undefined) return checks;
        return [...checks, ...compareHypertables(expected.hypertables, await hypertableCounts(client))];
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Counts in one read-only snapshot so the numbers belong to a single moment. */
  private async countIn(client: Client, exclusion: Exclusion): Promise<TableCount[]> {
    await client.query(COUNT_SESSION_SETTINGS);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const counts = await countRows(client, exclusion);
    await client.query('COMMIT');
    return counts;
  }
}

function failedCheck(outcome: Exclude<RestoreOutcome, { ok: true }>): Check {
  return { name: outcome.check, ok: false, detail: outcome.detail };
}

function assertIdentifier(name: string): void {
  const bytes = Buffer.byteLength(name);
  // PostgreSQL would silently truncate a longer name, and the DROP could then miss or hit another database.
  if (bytes === 0 || bytes > MAX_IDENTIFIER_BYTES) {
    throw new RangeError(`scratch database name must be 1-${MAX_IDENTIFIER_BYTES} bytes, got ${bytes}`);
  }
}
