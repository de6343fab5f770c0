import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BackupContent } from '@tidemark/manifest';
import type { Client } from 'pg';
import {
  describeFailure,
  type DumpContext,
  type DumpHandle,
  SourceError,
  startTool,
} from '@tidemark/source-contract';
import type { PostgresSettings } from './settings';
import type { PgContext } from './context';
import { COUNT_SESSION_SETTINGS, countRows } from './counts';
import { startDirectoryDump } from './directory-dump';
import { buildExclusion, type Exclusion } from './excludes';
import { serverVersion } from './server';
import { hypertableCounts, timescaleVersion } from './timescale';

/** Parallel jobs from the settings; below 2 the dump is one custom archive. */
export function dumpJobs(settings: PostgresSettings): number {
  const jobs = settings.jobs;
  return jobs !== undefined && Number.isInteger(jobs) && jobs >= 2 ? jobs : 1;
}

interface RunningDump {
  stdout: Readable;
  /** Resolves when the archive is complete; rejects with SourceError('dump-failed'). */
  done: Promise<void>;
  /** Resolves once pg_dump has exited (it no longer needs the snapshot) with its failure, if it failed. */
  exited: Promise<SourceError | undefined>;
  abort(): void;
}

/**
 * pg_dump in a snapshot exported by our own connection, which meanwhile counts the rows of exactly the tables
 * pg_dump dumps (and, with TimescaleDB, of each hypertable) inside that same snapshot.
 */
export async function startDump(
  ctx: PgContext,
  settings: PostgresSettings,
  context?: DumpContext,
): Promise<DumpHandle> {
  const database = ctx.target.database;
  const client = await ctx.connect(database);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= client.end().catch(() => undefined));
  let running: RunningDump;
  let exclusion: Exclusion;
  let timescale: string | undefined;
  try {
    const server = await ctx.query('dump-failed', () => serverVersion(client));
    exclusion = buildExclusion(settings, database, server.versionNum);
    const pgDump = await ctx.dumpTool('pg_dump', server);
    const snapshot = await ctx.query('dump-failed', async () => {
      await client.query(COUNT_SESSION_SETTINGS);
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
      const id = rows[0]?.id;
      if (!id) throw new Error('pg_export_snapshot() returned nothing');
      return id;
    });
    timescale = await ctx.query('dump-failed', () => timescaleVersion(client));
    const args = [`--snapshot=${snapshot}`, ...exclusion.args, '--no-password'];
    const jobs = dumpJobs(settings);
    running =
      jobs >= 2
        ? await startDirectoryDump({
            pgDumpPath: pgDump.path,
            args,
            env: ctx.toolEnv(database),
            jobs,
            dir: context
              ? join(context.workDir, 'pg_dump.dir')
              : await mkdtemp(join(tmpdir(), 'tidemark-pgd-')),
            clean: (text) => ctx.clean(text),
          })
        : startCustom(ctx, pgDump.path, args);
  } catch (err) {
    await close();
    throw err;
  }

  const content = collect(client, exclusion, timescale);
  content.catch(() => undefined);
  const state = { aborted: false };
  const finished = (async () => {
    try {
      const failure = await running.exited;
      if (state.aborted) throw new SourceError('dump-failed', 'pg_dump was aborted');
      if (failure) throw failure;
      await ctx.query('dump-failed', async () => {
        await content;
        await client.query('COMMIT');
      });
      // The snapshot goes as soon as pg_dump is done with it, not after the last file was streamed.
      await close();
      await running.done;
    } finally {
      // Only now may the snapshot go: pg_dump needed it until it exited.
      await close();
    }
  })();
  // Callers that abort may never await `finished`; that must not become an unhandled rejection.
  finished.catch(() => undefined);
  return {
    stdout: running.stdout,
    content,
    finished,
    abort: () => {
      state.aborted = true;
      running.abort();
      void close();
    },
  };
}

/** Counted on the exporting connection, so inside the very snapshot pg_dump imported. */
async function collect(
  client: Client,
  exclusion: Exclusion,
  timescale: string | undefined,
): Promise<BackupContent> {
  const tables = await countRows(client, exclusion);
  if (timescale === undefined) return { tables };
  return { tables, hypertables: await hypertableCounts(client, exclusion) };
}

function startCustom(ctx: PgContext, pgDump: string, args: string[]): RunningDump {
  const tool = startTool(pgDump, ['-Fc', '-Z0', ...args], ctx.toolEnv(ctx.target.database), {
    stdin: false,
    stdout: true,
  });
  const stdout = tool.stdout;
  if (!stdout) throw new Error('pg_dump was started without a stdout pipe');
  const exited = tool.exit.then((exit) =>
    exit.code === 0 ? undefined : new SourceError('dump-failed', ctx.clean(describeFailure('pg_dump', exit))),
  );
  const done = exited.then((failure) => {
    if (failure) throw failure;
  });
  done.catch(() => undefined);
  return {
    stdout,
    done,
    exited,
    abort: () => {
      tool.kill();
    },
  };
}
