import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  describeFailure,
  errorMessage,
  feedTool,
  SourceError,
  startTool,
  TarFormatError,
  type ToolExit,
} from '@tidemark/source-contract';
import type { Client } from 'pg';
import { connectError } from './connection';
import type { PgContext } from './context';
import { inspectArchive, MarkerScan, TIMESCALE_MARKER } from './archive-input';
import { isConnectionFailure, type ServerVersion } from './server';
import { readDumpTar } from './dump-tar';
import { timescaleAvailable, timescalePostRestore, timescalePreRestore } from './timescale';

export interface RestoreArchiveOptions {
  database: string;
  server: ServerVersion;
  /** pg_restore flags (owner, acl, clean, exit-on-error). */
  flags: string[];
  /** Parallel pg_restore jobs for a directory archive (a custom archive from a stream restores in one). */
  jobs: number;
  /** Where a directory archive is unpacked for pg_restore; a fresh directory under it is removed afterwards. */
  unpackDir: string;
  /** The backup is known to hold TimescaleDB (otherwise it is detected from the archive). */
  timescale: boolean;
}

/** A failure of the restore itself (the archive or the tool), as opposed to not reaching the server. */
export type RestoreOutcome = { ok: true } | { ok: false; check: string; detail: string };

/**
 * Restores a custom archive (from the stream) or a directory archive's tar (unpacked first, then `pg_restore -j`)
 * into `database`, inside timescaledb_pre_restore() / timescaledb_post_restore() when the backup holds TimescaleDB.
 */
export async function restoreArchive(
  ctx: PgContext,
  input: Readable,
  options: RestoreArchiveOptions,
): Promise<RestoreOutcome> {
  const archive = await inspectArchive(input);
  if (archive.kind === 'custom') {
    const wrap = await needsTimescale(ctx, options, archive.timescale);
    return wrapped(ctx, options.database, wrap, async () => {
      const pgRestore = await ctx.tool('pg_restore', options.server);
      const tool = startTool(
        pgRestore.path,
        [...options.flags, '--no-password', '--dbname='],
        ctx.toolEnv(options.database),
        { stdin: true, stdout: false },
      );
      await feedTool(archive.stream, tool);
      return tool.exit;
    });
  }
  await mkdir(options.unpackDir, { recursive: true });
  const dir = await mkdtemp(join(options.unpackDir, 'tidemark-pgd-'));
  try {
    let timescale: boolean;
    try {
      timescale = await unpack(archive.stream, dir);
    } catch (err) {
      if (err instanceof TarFormatError)
        return { ok: false, check: 'archive', detail: `the tar is damaged: ${err.message}` };
      throw err;
    }
    const wrap = await needsTimescale(ctx, options, timescale);
    return await wrapped(ctx, options.database, wrap, async () => {
      const pgRestore = await ctx.tool('pg_restore', options.server);
      const tool = startTool(
        pgRestore.path,
        [...options.flags, `--jobs=${options.jobs}`, '--no-password', '--dbname=', '-Fd', dir],
        ctx.toolEnv(options.database),
        { stdin: false, stdout: false },
      );
      return tool.exit;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes every member into `dir`; says whether toc.dat creates the TimescaleDB extension. */
export async function unpack(input: Readable, dir: string): Promise<boolean> {
  const scan = new MarkerScan(TIMESCALE_MARKER);
  await readDumpTar(input, async (member) => {
    const file = await open(join(dir, member.name), 'wx', 0o600);
    try {
      for await (const chunk of member.body) {
        if (member.name === 'toc.dat') scan.observe(chunk);
        await file.write(chunk);
      }
    } finally {
      await file.close();
    }
  });
  return scan.found;
}

async function needsTimescale(
  ctx: PgContext,
  options: RestoreArchiveOptions,
  detected: boolean,
): Promise<boolean> {
  if (options.timescale) return true;
  if (!detected) return false;
  // Found by a byte scan: wrap only where the extension exists, else let pg_restore report what is missing.
  const client = await ctx.connect(options.database);
  try {
    return await ctx.query('restore-failed', () => timescaleAvailable(client));
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function wrapped(
  ctx: PgContext,
  database: string,
  timescale: boolean,
  run: () => Promise<ToolExit>,
): Promise<RestoreOutcome> {
  const outcome = (exit: ToolExit): RestoreOutcome =>
    exit.code === 0
      ? { ok: true }
      : { ok: false, check: 'pg_restore', detail: ctx.clean(describeFailure('pg_restore', exit)) };
  if (!timescale) return outcome(await run());
  const before = await timescaleStep(ctx, database, 'timescaledb_pre_restore', timescalePreRestore);
  if (before) return before;
  let result: RestoreOutcome;
  try {
    result = outcome(await run());
  } catch (err) {
    // Never leave the database in restoring mode (background jobs off) because the restore broke.
    await timescaleStep(ctx, database, 'timescaledb_post_restore', timescalePostRestore).catch(
      () => undefined,
    );
    throw err;
  }
  const after = await timescaleStep(ctx, database, 'timescaledb_post_restore', timescalePostRestore);
  return result.ok ? (after ?? result) : result;
}

/** Runs one step in `database`; a failed statement is a failed 'timescaledb' check, an unreachable server throws. */
async function timescaleStep(
  ctx: PgContext,
  database: string,
  what: string,
  step: (client: Client) => Promise<void>,
): Promise<RestoreOutcome | undefined> {
  const client = await ctx.connect(database);
  try {
    await step(client);
    return undefined;
  } catch (err) {
    if (err instanceof SourceError) throw err;
    if (isConnectionFailure(err)) throw connectError(err, ctx.target, database);
    return { ok: false, check: 'timescaledb', detail: `${what}: ${ctx.clean(errorMessage(err))}` };
  } finally {
    await client.end().catch(() => undefined);
  }
}
