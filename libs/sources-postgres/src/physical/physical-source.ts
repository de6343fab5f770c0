import { execFile } from 'node:child_process';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { BackupContent, Check, TableCount } from '@tidemark/manifest';
import {
  describeFailure,
  type DumpContext,
  restoreTestResult,
  SourceError,
  startTool,
  TarFormatError,
  type DumpHandle,
  type RecoveryRequest,
  type RecoveryResult,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  type SourceInfo,
  type SourceOptions,
  type StreamSource,
  type StructureCheckResult,
} from '@tidemark/source-contract';
import { address, parsePostgresUrl } from '../connection';
import { PgContext } from '../context';
import { serverVersion } from '../server';
import { findTool } from '../tools';
import { manifestWalRange, readBaseTar, scanBaseTar, type BaseTarSummary } from './base-tar';
import { readClusterFacts } from './cluster';
import { scanCompressedBaseTar } from './compressed-scan';
import { extractTar, restoreDataDirectory, TAR_UNPACKS } from './extract';
import { placeWalFor, startRecoveredServer, writeRecoverySettings } from './recovery';
import { recoverAndCheck } from './restore-test';

const run = promisify(execFile);

export const PHYSICAL_FORMAT = 'pg_basebackup-tar';

/** How far pg_basebackup may run ahead of the artifact's compressor. */
const OUT_BUFFER = 4 * 1024 * 1024;

/**
 * Arguments of pg_basebackup: one tar of the main tablespace on stdout, no WAL (the WAL archive holds it), the
 * manifest injected as the tar's last member. Connection parameters travel in the environment.
 *
 * The manifest's per-file checksums are CRC32C (pg_basebackup's default), not SHA-256: the server computes them over
 * every byte it sends, and SHA-256 made pg_basebackup itself 1.5x slower (337 MB: 0.59-0.71 s against 0.37-0.45 s;
 * bench/physical.ts, 1 GiB: 4.4-6.8 s against 3.6-4.7 s), CPU spent on the production primary. They only have to
 * catch accidental damage while the verifier unpacks the tar: the artifact's own sha256 (whole and per part) proves
 * it intact end to end, and an unkeyed SHA-256 in a manifest that travels inside the same artifact proves nothing
 * against tampering. The manifest's checksum of itself is SHA-256 whatever this says.
 */
export const BASEBACKUP_ARGS = [
  '-D',
  '-',
  '-Ft',
  '-X',
  'none',
  '--checkpoint=fast',
  '--manifest-checksums=CRC32C',
  '--no-password',
];

/**
 * pg_basebackup compresses the tar itself when the artifact is zstd and the tool can (15 and later): zstd level 1
 * in C on up to this many threads, where Node's zlib binding compresses on one (ZSTD_c_nbWorkers does not work
 * there). 1 GiB cluster, idle 2-core machine: the dump took 2.2 s this way against 3.9-4.8 s through Node's zstd
 * (bench/physical.ts breakdown). Its frames carry no content checksum; the artifact's sha256 (whole and per part) covers that.
 * The dump then looks into the tar through GNU tar and zstd (compressed-scan.ts), which the image carries.
 */
const TOOL_ZSTD_WORKERS = Math.min(4, availableParallelism());
const TOOL_ZSTD_FROM = 150000;

/** The compression pg_basebackup applies itself, or null when the dumper compresses. */
function toolCompression(context: DumpContext, toolMajorNum: number): string | null {
  if (context.compression !== 'zstd' || toolMajorNum < TOOL_ZSTD_FROM) return null;
  return `--compress=client-zstd:level=1,workers=${TOOL_ZSTD_WORKERS}`;
}

/**
 * A PostgreSQL cluster's physical base backup (`method: physical`). The same class restores: then its url is the
 * data directory to create.
 */
export class PostgresPhysicalSource implements StreamSource {
  readonly kind = 'postgres';
  readonly incremental = false;
  readonly format = PHYSICAL_FORMAT;
  readonly unpacks = TAR_UNPACKS;
  private context: PgContext | undefined;

  constructor(
    private readonly url: string,
    private readonly options: SourceOptions = {},
  ) {}

  private get env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env;
  }

  /** Parsed on first use: a restore's url is a directory, never a server. */
  private get ctx(): PgContext {
    this.context ??= new PgContext(parsePostgresUrl(this.url, this.env), this.options);
    return this.context;
  }

  async preCheck(): Promise<SourceInfo> {
    const { ctx } = this;
    const client = await ctx.connectMaintenance();
    try {
      const server = await ctx.query('source-unreachable', () => serverVersion(client));
      const facts = await ctx.query('source-unreachable', () => readClusterFacts(client));
      const tool = await ctx.dumpTool('pg_basebackup', server);
      return {
        kind: this.kind,
        database: '(cluster)',
        host: address(ctx.target),
        serverVersion: server.version,
        serverMajor: server.major,
        dumpTool: tool.label,
        estimatedBytes: facts.estimatedBytes,
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async dump(context: DumpContext): Promise<DumpHandle> {
    const { ctx } = this;
    const client = await ctx.connectMaintenance();
    let prepared;
    try {
      const server = await ctx.query('dump-failed', () => serverVersion(client));
      const facts = await ctx.query('dump-failed', () => readClusterFacts(client));
      prepared = { server, facts, tool: await ctx.dumpTool('pg_basebackup', server) };
    } finally {
      await client.end().catch(() => undefined);
    }
    const compress = toolCompression(context, prepared.tool.majorNum);
    const scanDir = join(context.workDir, 'base-tar-members');
    if (compress) await mkdir(scanDir, { recursive: true });
    const args = compress ? [...BASEBACKUP_ARGS, compress] : BASEBACKUP_ARGS;
    const tool = startTool(prepared.tool.path, args, ctx.toolEnv(ctx.target.database), {
      stdin: false,
      stdout: true,
    });
    const { stdout } = tool;
    if (!stdout) throw new Error('pg_basebackup was started without a stdout pipe');
    // The caller reads the stream; the same chunks are looked into in passing for backup_label and
    // backup_manifest: by the scanner (headers only, bodies skipped by arithmetic), or by GNU tar when the tool
    // compressed them. A roomy buffer lets pg_basebackup run ahead while the consumers work.
    const out = new PassThrough({ highWaterMark: OUT_BUFFER });
    const raw = { bytes: 0 };
    const scanned = compress
      ? scanCompressedBaseTar(stdout, scanDir, this.env).then((scan) => {
          raw.bytes = scan.rawBytes;
          return scan.summary;
        })
      : scanBaseTar(stdout);
    scanned.catch(() => undefined);
    stdout.pipe(out);
    const state = { aborted: false };
    const content = (async (): Promise<BackupContent> => {
      const exit = await tool.exit;
      const stoppedAt = new Date().toISOString();
      if (state.aborted) throw new SourceError('dump-failed', 'pg_basebackup was aborted');
      if (exit.code !== 0)
        throw new SourceError('dump-failed', ctx.clean(describeFailure('pg_basebackup', exit)));
      let tar: BaseTarSummary;
      try {
        tar = await scanned;
      } catch (err) {
        throw new SourceError(
          'dump-failed',
          `pg_basebackup wrote an unreadable tar: ${(err as Error).message}`,
        );
      }
      const { label, manifest } = tar;
      if (!label || !manifest)
        throw new SourceError('dump-failed', 'pg_basebackup wrote no backup_label or backup_manifest');
      const range = manifestWalRange(manifest, label.timeline);
      return {
        tables: [],
        physical: {
          startLsn: range.startLsn,
          stopLsn: range.stopLsn,
          timeline: label.timeline,
          startedAt: new Date(label.startTime).toISOString(),
          stoppedAt,
          serverVersion: prepared.server.version,
          systemIdentifier: prepared.facts.systemIdentifier,
          walSegmentBytes: prepared.facts.walSegmentBytes,
          databases: prepared.facts.databases,
          backupManifest: manifest as { 'PostgreSQL-Backup-Manifest-Version': number },
        },
      };
    })();
    content.catch(() => undefined);
    const finished = content.then(() => undefined);
    finished.catch(() => undefined);
    return {
      stdout: out,
      ...(compress ? { precompressed: { rawBytes: () => raw.bytes } } : {}),
      content,
      finished,
      abort: () => {
        state.aborted = true;
        tool.kill();
      },
    };
  }

  async checkStructure(input: Readable): Promise<StructureCheckResult> {
    const tool = 'tidemark base backup tar check';
    try {
      const tar = await readBaseTar(input);
      const missing = [
        tar.label ? undefined : 'backup_label',
        tar.hasPgControl ? undefined : 'global/pg_control',
        tar.manifest ? undefined : 'backup_manifest',
      ].filter((name) => name !== undefined);
      if (missing.length > 0)
        return { ok: false, tool, entries: tar.entries, detail: `missing ${missing.join(', ')}` };
      return { ok: true, tool, entries: tar.entries };
    } catch (err) {
      if (err instanceof TarFormatError) return { ok: false, tool, entries: 0, detail: err.message };
      throw err;
    }
  }

  /** `url` is the data directory to create; it must be missing or empty unless `clean`. */
  async restore(input: Readable, options: RestoreOptions): Promise<void> {
    await restoreDataDirectory(input, this.url, {
      clean: options.clean,
      env: this.env,
      ...(options.compression ? { compression: options.compression } : {}),
    });
  }

  /**
   * The base backup unpacked beside `url`, the planned WAL placed in it and the recovery settings written, then
   * renamed into place: a failed fetch (a missing or damaged file) leaves nothing at `url`. With `start` the
   * server recovers on that port and keeps running; its socket and log are in `<url>.run` beside it.
   */
  async recover(input: Readable, request: RecoveryRequest, options: RestoreOptions): Promise<RecoveryResult> {
    const dir = this.url;
    const settings = { binDir: this.options.binDir, env: this.env };
    await restoreDataDirectory(input, dir, {
      clean: options.clean,
      env: this.env,
      ...(options.compression ? { compression: options.compression } : {}),
      prepare: async (staging) => {
        await placeWalFor(staging, request, settings);
        // 'latest' follows the newest history file placed: the planner placed only those on the way.
        await writeRecoverySettings(staging, { target: request.target, timeline: 'latest', ...settings });
      },
    });
    if (!request.start) return { destination: dir };
    const server = await startRecoveredServer(dir, {
      port: request.start.port,
      runDir: join(dirname(dir), `${basename(dir)}.run`),
      ...settings,
    });
    return { destination: dir, reachedAt: server.reachedAt, port: server.port };
  }

  /**
   * Unpacks into `<scratch>/data`, checks every file against backup_manifest and the system identifier, then
   * (given the target's WAL archive) recovers the copy to the backup's end and checks it running. The scratch is
   * removed whatever happens; a server started on it is stopped first.
   */
  async restoreTest(
    input: Readable,
    expected: BackupContent,
    scratch: Scratch,
    options: Pick<RestoreOptions, 'compression'> = {},
  ): Promise<RestoreTestResult> {
    const startedAt = performance.now();
    const root = join(scratch.dir, scratch.name);
    const dir = join(root, 'data');
    await rm(root, { recursive: true, force: true });
    // The server runs as postgres: it must pass through this directory to its own.
    await mkdir(root, { recursive: true, mode: 0o711 });
    await chmod(root, 0o711);
    try {
      await extractTar(input, dir, this.env, options.compression);
      const checks = [await this.verifyBackup(dir), await this.compareSystemIdentifier(dir, expected)];
      const backup = expected.physical;
      if (scratch.wal && backup && checks.every((check) => check.ok))
        checks.push(
          ...(await recoverAndCheck(backup, {
            dataDir: dir,
            runDir: join(root, 'run'),
            wal: scratch.wal,
            role: this.ctx.target.user,
            binDir: this.options.binDir,
            env: this.env,
          })),
        );
      return restoreTestResult(dir, checks, startedAt);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }

  /** Every file against backup_manifest's checksum (WAL is not in the tar, so it is not parsed). */
  private async verifyBackup(dir: string): Promise<Check> {
    const tool = await this.localTool('pg_verifybackup');
    try {
      await run(tool, ['--no-parse-wal', dir], { env: this.toolEnv(), timeout: 3_600_000 });
      return { name: 'pg_verifybackup', ok: true };
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? (err as Error).message;
      return { name: 'pg_verifybackup', ok: false, detail: stderr.trim().split('\n').slice(0, 5).join('; ') };
    }
  }

  /** The extracted pg_control belongs to the cluster the backup was taken of. */
  private async compareSystemIdentifier(dir: string, expected: BackupContent): Promise<Check> {
    const want = expected.physical?.systemIdentifier ?? '(none recorded)';
    const tool = await this.localTool('pg_controldata');
    const { stdout } = await run(tool, [dir], { env: { ...this.toolEnv(), LC_ALL: 'C' }, timeout: 60_000 });
    const actual = /^Database system identifier:\s+(\d+)/m.exec(stdout)?.[1] ?? '(unreadable)';
    return { name: 'system identifier', ok: actual === want, expected: want, actual };
  }

  private toolEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(this.env)) if (!key.startsWith('PG')) env[key] = value;
    return env;
  }

  private async localTool(name: 'pg_verifybackup' | 'pg_controldata'): Promise<string> {
    return (await findTool(name, { binDir: this.options.binDir, env: this.env, serverMajor: undefined }))
      .path;
  }

  /** A base backup has no per-snapshot row counts. */
  tableCounts(): Promise<TableCount[]> {
    return Promise.resolve([]);
  }
}
