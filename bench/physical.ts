/**
 * Physical PostgreSQL backups and WAL archiving (issue 13) against the stock tools, in one run on a cluster of the
 * bench's own (initdb on a free port via startScratchCluster, filled with `pgbench -i -s 70` ≈ 1 GiB). Run by hand
 * (not a test), as root (the cluster and pgBackRest run as postgres):
 *   node -r ./tools/register.js bench/physical.ts            # full: ~1 GiB, 3 backup rounds, 120 s of load
 *   BENCH_SCALE=smoke node -r ./tools/register.js bench/physical.ts   # or --smoke: ~2 minutes, proves it runs
 * Options: --scale N (pgbench scale), --load-seconds N, --segment-every S (the write rate aimed at: one 16 MiB
 * segment every S seconds, default 4).
 * Measures, with the stock tools in the same run:
 *  1. base backup, trigger → committed blob + manifest through the real services (CLI `backup` from dist, the
 *     dumper streaming pg_basebackup → zstd → sha256 → parts, the uploader committing to Azurite), vs bare
 *     `pg_basebackup -D - -Ft -X none --checkpoint=fast > /dev/null` and vs `pgbackrest backup --type=full`
 *     (local repo, compress-type=zst, process-max=2, start-fast); median of the rounds, interleaved.
 *  2. WAL archiving under `pgbench -N -c 4` (rate-limited so a segment fills every few seconds): the archiver
 *     (apps/archiver from dist, seen by listing its blobs every 250 ms; `--archiver worker` runs the libs in
 *     bench/physical-archiver.ts instead, reporting over IPC) and pgBackRest's
 *     `archive-push` as archive_command, side by side on the same WAL. Every second: the server's
 *     pg_current_wal_lsn() and what each archive holds; the lag is the age of the oldest WAL byte not yet
 *     archived (a recovery point objective), plus per segment the time from the server completing it to its commit.
 *  3. peak RSS (VmHWM) of every Tidemark process: the five services, the CLI runs, the archiver.
 *  4. restore of the base backup (CLI `restore --backup --to <dir>`: download, sha256, zstd -d, tar -x, rename)
 *     vs `pgbackrest restore`; and a restore to a time (files + start + recovery to the time, promoted) with
 *     pgBackRest vs Tidemark's `restore --at … --start --port` (see tidemarkPointInTimeRestore: reported as not
 *     built until the CLI takes those flags).
 * Prints a table (figure, Tidemark, stock, ratio, target, met) and writes it with the details as JSON to
 * bench/results/physical-<date>[-smoke].json. The machine may be shared: `nproc` and the load average are recorded
 * per phase; compare ratios within one run.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { transformFile } from '@swc/core';
import { Client } from 'pg';
import { BatchingStream, createCompressor } from '@tidemark/artifact';
import { SERVICE_NODE_FLAGS } from '@tidemark/environment';
import { RedisStreamEventBus } from '@tidemark/events';
import { createSource } from '@tidemark/source-kinds';
import { AzureBlobStore } from '@tidemark/storage';
import {
  freePort,
  PG_BIN,
  startRedisServer,
  startScratchCluster,
  waitFor,
  type RedisServerHandle,
  type ScratchCluster,
} from '@tidemark/testing';
import { formatLsn, parseWalBlobName, readWalBlobMetadata, walPrefix } from '@tidemark/wal';
import { slotName } from '@tidemark/archiving';
import { WalArchive } from '@tidemark/wal-archive';
import { REPO_ROOT, SERVICE_NAMES, TestStack } from '../test/src/support/stack';
import type { ArchiverMessage } from './physical-archiver';
import {
  lagAt,
  median,
  MiB,
  mustRun,
  parsePgLsn,
  peakRss,
  percentile,
  PgBackRest,
  postgresDir,
  reachedAt,
  rssStatus,
  runTool,
  segmentEndLsn,
  type Ran,
  type WalSample,
} from './physical-tools';

// ---------------------------------------------------------------- settings

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
}
const SMOKE = process.argv.includes('--smoke') || process.env['BENCH_SCALE'] === 'smoke';
const SETTINGS = {
  pgbenchScale: Number(flag('--scale') ?? (SMOKE ? 4 : 70)),
  backupRounds: SMOKE ? 1 : 3,
  restoreRounds: SMOKE ? 1 : 2,
  loadSeconds: Number(flag('--load-seconds') ?? (SMOKE ? 20 : 120)),
  calibrateSeconds: SMOKE ? 5 : 10,
  segmentEverySeconds: Number(flag('--segment-every') ?? 4),
  shipPartialSeconds: 30,
};
const TARGET_ID = 'bench-cluster';
const CONTAINER = 'bench';
const SEGMENT_BYTES = 16 * MiB;
const CLI = join(REPO_ROOT, 'dist', 'apps', 'cli', 'src', 'main.js');

/** Targets of the issue ("Done when", bench/). */
const TARGETS = { vsBasebackup: 1.15, vsPgBackRest: 1, lagSeconds: 60, rssBytes: 128 * MiB };

// ---------------------------------------------------------------- results

interface Figure {
  figure: string;
  unit: string;
  tidemark: number | null;
  stock: number | null;
  stockTool: string;
  /** tidemark / stock (lower is better for every figure with a target). */
  ratio: number | null;
  target: string;
  met: boolean | null;
}

const figures: Figure[] = [];
const details: Record<string, unknown> = {};
const loadByPhase: Record<string, { before: number[]; after?: number[] }> = {};

function figure(
  name: string,
  unit: string,
  tidemark: number | null,
  stock: { tool: string; value: number | null },
  target: { text: string; met: (f: { tidemark: number; ratio: number | null }) => boolean } | null,
): void {
  const ratio = tidemark !== null && stock.value ? tidemark / stock.value : null;
  figures.push({
    figure: name,
    unit,
    tidemark,
    stock: stock.value,
    stockTool: stock.tool,
    ratio,
    target: target?.text ?? '-',
    met: target && tidemark !== null ? target.met({ tidemark, ratio }) : null,
  });
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const seconds = (ms: number): number => round1(ms / 1000);
const load = (): number[] => loadavg().map((l) => Math.round(l * 100) / 100);

async function phase<T>(name: string, work: () => Promise<T>): Promise<T> {
  loadByPhase[name] = { before: load() };
  console.log(`== ${name} (load average ${load().join(' ')})`);
  try {
    return await work();
  } finally {
    loadByPhase[name].after = load();
  }
}

// ---------------------------------------------------------------- the cluster and the stack

async function createCluster(): Promise<ScratchCluster> {
  // archive_mode needs a restart to change; archive_command is switched to pgBackRest's once its stanza exists.
  const cluster = await startScratchCluster({
    settings: ['archive_mode = on', "archive_command = '/bin/true'", 'max_wal_size = 2GB'],
  });
  console.log(
    `cluster on port ${cluster.port}, ${cluster.dataDir}; pgbench -i -s ${SETTINGS.pgbenchScale} …`,
  );
  const started = performance.now();
  await mustRun('pgbench', ['-i', '-q', '-s', String(SETTINGS.pgbenchScale), ...pgArgs(cluster), 'postgres']);
  await cluster.query('CHECKPOINT');
  const [size] = await cluster.query<{ bytes: string }>(
    'SELECT sum(pg_database_size(oid))::text AS bytes FROM pg_database',
  );
  details['clusterBytes'] = Number(size?.bytes ?? 0);
  details['generateSeconds'] = seconds(performance.now() - started);
  console.log(`cluster holds ${(Number(size?.bytes ?? 0) / MiB).toFixed(0)} MiB`);
  return cluster;
}

function pgArgs(cluster: ScratchCluster): string[] {
  return ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres'];
}

async function startStack(cluster: ScratchCluster, redis: RedisServerHandle): Promise<TestStack> {
  return TestStack.start({
    config: `
storage: { container: ${CONTAINER} }
local: { path: __LOCAL__ }
policies:
  bench: { schedule: "0 5 * * *", verify: { restoreTest: false } }
targets:
  - id: ${TARGET_ID}
    kind: postgres
    method: physical
    url: "postgres://${cluster.replicationRole}:\${BENCH_REPL_PASSWORD}@127.0.0.1:${cluster.port}/postgres"
    policy: bench
    pitr: { windowDays: 7, shipPartialSeconds: ${SETTINGS.shipPartialSeconds}, maxLagSeconds: 300 }
`,
    redisUrl: redis.url,
    env: { BENCH_REPL_PASSWORD: cluster.replicationPassword, LOG_LEVEL: 'warn' },
  });
}

async function enablePgBackRestArchiving(cluster: ScratchCluster, pgbackrest: PgBackRest): Promise<void> {
  await cluster.query(`ALTER SYSTEM SET archive_command = '${pgbackrest.archiveCommand}'`);
  await cluster.query('SELECT pg_reload_conf()');
}

// ---------------------------------------------------------------- the archiver process

/** The archiver as plain JavaScript next to dist/ (compiled like tools/build.mjs does the apps). */
async function compileArchiver(): Promise<string> {
  const source = 'bench/physical-archiver.ts';
  const tsconfig = (await import(join(REPO_ROOT, 'tsconfig.base.json'))) as {
    compilerOptions: { paths: Record<string, string[]> };
  };
  const { code } = await transformFile(join(REPO_ROOT, source), {
    filename: source,
    sourceMaps: false,
    module: { type: 'commonjs' },
    jsc: {
      target: 'es2023',
      baseUrl: REPO_ROOT,
      paths: tsconfig.compilerOptions.paths,
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      keepClassNames: true,
    },
  });
  const out = join(REPO_ROOT, 'dist', source.replace(/\.ts$/, '.js'));
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, code);
  return out;
}

interface Shipped {
  at: number;
  file: string;
  kind: 'segment' | 'history' | 'partial';
  rawBytes: number;
  compressedBytes: number;
}

/** What the WAL measurements read from whichever archiver ships: the files committed, when, and how far. */
interface WalShipper {
  readonly label: string;
  readonly shipped: Shipped[];
  readonly failures: string[];
  /** End of the newest segment committed. */
  readonly archivedLsn: bigint;
  /** Stops it when the bench started it; resolves with its peak RSS (VmHWM, and its own maxRSS when known). */
  stop(): Promise<{ vmHwm: number; maxRss: number }>;
}

/** The archiver libs in a process of the bench's own (bench/physical-archiver.ts), reporting over IPC. */
class Archiver implements WalShipper {
  readonly label = 'archiver (ArchiverService, bench/physical-archiver.ts)';
  readonly shipped: Shipped[] = [];
  readonly failures: string[] = [];
  archivedLsn = 0n;
  private stoppedRss: Promise<number> | undefined;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: ArchiverMessage) => {
      if (message.type === 'shipped')
        for (const file of message.batch) {
          this.shipped.push({ at: message.at, ...file });
          if (file.kind === 'segment') {
            const end = segmentEndLsn(file.file, SEGMENT_BYTES);
            if (end > this.archivedLsn) this.archivedLsn = end;
          }
        }
      if (message.type === 'failed') this.failures.push(`${message.file}: ${message.error}`);
    });
  }

  static async start(stack: TestStack, cluster: ScratchCluster, spool: string): Promise<Archiver> {
    const script = await compileArchiver();
    const child = fork(script, [], {
      // Not this process's `-r tools/register.js`: the archiver runs as plain JavaScript, as in production.
      execArgv: [],
      env: {
        ...stack.env,
        BENCH_TARGET_ID: TARGET_ID,
        BENCH_TARGET_URL: cluster.replicationUrl,
        BENCH_CONTAINER: CONTAINER,
        BENCH_SPOOL: spool,
        BENCH_SHIP_PARTIAL_SECONDS: String(SETTINGS.shipPartialSeconds),
      },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString('utf8')).slice(-4000)));
    const archiver = new Archiver(child);
    await new Promise<void>((resolve, reject) => {
      child.on('message', (message: ArchiverMessage) => {
        if (message.type === 'ready') resolve();
      });
      child.once('exit', (code) => {
        reject(new Error(`the archiver exited ${String(code)} before streaming: ${log}`));
      });
    });
    // How much of the peak is there before any WAL is shipped (modules loaded, the stream started).
    details['archiverRssAtReadyMiB'] = round1((await peakRss(child.pid!)) / MiB);
    return archiver;
  }

  /** Stops it (it ships what is complete); resolves with its own maxRSS and the VmHWM read just before. */
  async stop(): Promise<{ vmHwm: number; maxRss: number }> {
    const vmHwm = this.child.pid ? await peakRss(this.child.pid) : 0;
    this.stoppedRss ??= new Promise<number>((resolve) => {
      this.child.on('message', (message: ArchiverMessage) => {
        if (message.type !== 'stopped') return;
        details['archiverMemoryAtStopMiB'] = Object.fromEntries(
          Object.entries(message.memory).map(([key, bytes]) => [key, round1(bytes / MiB)]),
        );
        resolve(message.maxRssBytes);
      });
      this.child.once('exit', () => {
        resolve(0);
      });
    });
    if (this.child.connected) this.child.send({ type: 'stop' });
    return { vmHwm, maxRss: await this.stoppedRss };
  }
}

/**
 * The archiver app (apps/archiver, from dist) once it exists: the stack's own when SERVICE_NAMES has it, else
 * started here. It reports nothing to the bench, so its commits are seen by listing the target's WAL blobs every
 * 250 ms (a commit is counted up to 250 ms late: the lag comes out a little worse, never better).
 */
class ArchiverApp implements WalShipper {
  readonly label = 'archiver (apps/archiver)';
  readonly shipped: Shipped[] = [];
  readonly failures: string[] = [];
  archivedLsn = 0n;
  private readonly seen = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private polling: Promise<void> = Promise.resolve();

  private constructor(
    private readonly child: ChildProcess,
    private readonly ownChild: boolean,
    private readonly store: AzureBlobStore,
  ) {
    this.timer = setInterval(() => {
      this.polling = this.polling
        .then(() => this.poll())
        .catch((error: unknown) => {
          this.failures.push(`listing the archive: ${String(error)}`);
        });
    }, 250);
  }

  static async start(stack: TestStack, cluster: ScratchCluster, spool: string): Promise<ArchiverApp> {
    const store = AzureBlobStore.fromConnectionString(
      stack.env['AZURE_STORAGE_CONNECTION_STRING']!,
      CONTAINER,
    );
    const inStack = (SERVICE_NAMES as readonly string[]).includes('archiver');
    let child: ChildProcess;
    if (inStack) child = stack.service('archiver').child;
    else {
      const port = await freePort();
      // The image's V8 flags, as the stack's own services get them: the RSS figure is a deployment's.
      const main = join(REPO_ROOT, 'dist', 'apps', 'archiver', 'src', 'main.js');
      child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, main], {
        cwd: REPO_ROOT,
        env: { ...stack.env, PORT: String(port), TIDEMARK_ARCHIVER_SPOOL_DIR: spool },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    }
    let log = '';
    const keep = (chunk: Buffer): void => {
      log = (log + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const app = new ArchiverApp(child, !inStack, store);
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`the archiver app exited ${String(child.exitCode)}: ${log}`);
        // The receiver makes the slot, then streams with pg_receivewal (which does not hold the slot itself).
        const rows = await cluster.query<{ slot: boolean; streaming: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '${slotName(TARGET_ID)}') AS slot,
                  EXISTS (SELECT 1 FROM pg_stat_replication WHERE usename = '${cluster.replicationRole}') AS streaming`,
        );
        return rows[0]?.slot === true && rows[0].streaming;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: 'the archiver app to stream' },
    ).catch(async (error: unknown) => {
      await app.stop();
      throw new Error(`${String(error)}; its log: ${log}`);
    });
    return app;
  }

  private async poll(): Promise<void> {
    for await (const item of this.store.list(walPrefix(TARGET_ID))) {
      const parsed = parseWalBlobName(item.name);
      if (!parsed || this.seen.has(item.name)) continue;
      if (parsed.kind === 'partial') {
        // A partial is replaced in place: count each new version (its etag changes) as one shipment.
        const props = await this.store.properties(item.name);
        const key = `${item.name}@${props?.etag ?? ''}`;
        if (this.seen.has(key)) continue;
        this.seen.add(key);
        this.record(parsed.file, 'partial', item.size, props?.metadata);
        continue;
      }
      this.seen.add(item.name);
      const props = await this.store.properties(item.name);
      this.record(parsed.file, parsed.kind, item.size, props?.metadata);
    }
  }

  private record(
    file: string,
    kind: Shipped['kind'],
    compressedBytes: number,
    metadata?: Record<string, string>,
  ): void {
    const rawBytes = (metadata && readWalBlobMetadata(metadata)?.size) ?? 0;
    this.shipped.push({ at: Date.now(), file, kind, rawBytes, compressedBytes });
    if (kind === 'segment') {
      const end = segmentEndLsn(file, SEGMENT_BYTES);
      if (end > this.archivedLsn) this.archivedLsn = end;
    }
  }

  async stop(): Promise<{ vmHwm: number; maxRss: number }> {
    clearInterval(this.timer);
    await this.polling;
    const vmHwm = this.child.pid ? await peakRss(this.child.pid) : 0;
    if (this.ownChild && this.child.exitCode === null) {
      const exited = new Promise<void>((resolve) =>
        this.child.once('exit', () => {
          resolve();
        }),
      );
      this.child.kill('SIGTERM');
      // A shutdown that hangs (e.g. on a Redis already gone) must not hang the bench.
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    }
    return { vmHwm, maxRss: 0 };
  }
}

/** The archiver app when it is built (or asked for with --archiver app), else the libs in a process of their own. */
async function startShipper(stack: TestStack, cluster: ScratchCluster, spool: string): Promise<WalShipper> {
  const mode =
    flag('--archiver') ??
    (existsSync(join(REPO_ROOT, 'apps', 'archiver', 'src', 'main.ts')) ? 'app' : 'worker');
  console.log(
    `WAL archiver: ${mode === 'app' ? 'apps/archiver from dist' : 'bench/physical-archiver.ts (the libs)'}`,
  );
  return mode === 'app' ? ArchiverApp.start(stack, cluster, spool) : Archiver.start(stack, cluster, spool);
}

// ---------------------------------------------------------------- 1. base backups

/**
 * The issue's baseline; `zstd` adds the compression Tidemark has pg_basebackup do (the physical source's
 * `--compress`): the floor of any compressed base backup with this tool on this machine, not a target.
 */
async function bareBasebackup(cluster: ScratchCluster, zstd = false): Promise<number> {
  const workers = Math.min(4, availableParallelism());
  const ran = await mustRun(
    join(PG_BIN, 'pg_basebackup'),
    [
      ...['-D', '-', '-Ft', '-X', 'none', '--checkpoint=fast'],
      ...(zstd ? [`--compress=client-zstd:level=1,workers=${String(workers)}`] : []),
      ...pgArgs(cluster),
    ],
    { stdoutFile: '/dev/null' },
  );
  return ran.ms;
}

const cliPeaks: Record<string, number> = {};

/** The CLI from dist (no compiler in the process), its peak RSS kept per command. */
async function cli(stack: TestStack, args: string[]): Promise<Ran> {
  const ran = await runTool(process.execPath, [CLI, ...args], { env: stack.env });
  const command = `cli ${args[0] ?? ''}`;
  cliPeaks[command] = Math.max(cliPeaks[command] ?? 0, ran.peakRssBytes);
  return ran;
}

async function tidemarkBackup(
  stack: TestStack,
  bus: RedisStreamEventBus,
): Promise<{
  ms: number;
  backupId: string;
  raw: number;
  compressed: number;
  stages: Record<string, number>;
}> {
  const started = performance.now();
  const trigger = await cli(stack, ['backup', TARGET_ID, '--json']);
  if (trigger.code !== 0) throw new Error(`tidemark backup failed: ${trigger.stderr}`);
  const { backupId } = JSON.parse(trigger.stdout) as { backupId: string };
  const events = async (): Promise<string[]> =>
    (await bus.history({ backupId })).map((stored) => stored.event.type);
  await waitFor(
    async () => {
      const types = await events();
      if (types.includes('tidemark.backup.failed'))
        throw new Error(`backup ${backupId} failed: ${stack.logs('dumper').slice(-2000)}`);
      return types.includes('tidemark.backup.uploaded');
    },
    { timeoutMs: 3_600_000, intervalMs: 100, what: `backup ${backupId} to be committed` },
  );
  const ms = performance.now() - started;
  const dumped = (await bus.history({ backupId })).find((e) => e.event.type === 'tidemark.backup.dumped');
  // The verifier's checksum pass would overlap the next measurement: wait for it (not timed).
  await waitFor(async () => (await events()).includes('tidemark.backup.verified'), {
    timeoutMs: 3_600_000,
    intervalMs: 250,
    what: `backup ${backupId} to be verified`,
  });
  const sizes = dumped?.event.data.sizes ?? {};
  const history = await bus.history({ backupId });
  const uploaded = history.find((e) => e.event.type === 'tidemark.backup.uploaded');
  return {
    ms,
    backupId,
    raw: sizes['raw'] ?? 0,
    compressed: sizes['compressed'] ?? 0,
    // Where the time went: the dumper's stage (pg_basebackup → zstd → sha256 → parts) and the uploader's commit.
    stages: {
      dump: seconds(dumped?.event.data.durations?.['dump'] ?? 0),
      upload: seconds(uploaded?.event.data.durations?.['upload'] ?? 0),
    },
  };
}

/**
 * Not a target: where Tidemark's dump time goes, in this process (one round, after the measured ones). The
 * physical source as the dumper runs it (pg_basebackup compressing itself, GNU tar reading backup_label and
 * backup_manifest from a copy) to nowhere; then the fallback for old tools (the raw tar, its headers scanned in
 * passing, through Node's zstd level 1 in 1 MiB writes). The rest of the end-to-end time is the artifact sha256,
 * the parts on the local tier, the upload, the queues and the CLI.
 */
async function dumpBreakdown(cluster: ScratchCluster, scratch: string): Promise<Record<string, number>> {
  const source = createSource({
    kind: 'postgres',
    url: cluster.replicationUrl,
    options: { method: 'physical' },
  });
  const dumpTo = async (toolCompresses: boolean): Promise<number> => {
    const workDir = await mkdtemp(join(scratch, 'dump-'));
    const started = performance.now();
    const handle = await source.dump({
      backupId: 'bench-breakdown',
      workDir,
      ...(toolCompresses ? { compression: 'zstd' as const } : {}),
    });
    const discard = new Writable({
      write: (_chunk, _encoding, done) => {
        done();
      },
    });
    const through = toolCompresses ? [] : [new BatchingStream(), createCompressor('zstd')];
    await Promise.all([pipeline([handle.stdout, ...through, discard]), handle.finished]);
    await rm(workDir, { recursive: true, force: true });
    return seconds(performance.now() - started);
  };
  return { toolCompressing: await dumpTo(true), nodeCompressing: await dumpTo(false) };
}

async function benchBaseBackups(
  cluster: ScratchCluster,
  stack: TestStack,
  pgbackrest: PgBackRest,
  scratch: string,
): Promise<string> {
  const bus = new RedisStreamEventBus(stack.redisUrl);
  const times = {
    bare: [] as number[],
    bareZstd: [] as number[],
    tidemark: [] as number[],
    pgbackrest: [] as number[],
  };
  let last: Awaited<ReturnType<typeof tidemarkBackup>> | undefined;
  const stages: Array<Record<string, number>> = [];
  try {
    // Interleaved, so a burst of load from the machine's other users hits every tool alike.
    for (let round = 1; round <= SETTINGS.backupRounds; round++) {
      times.bare.push(await bareBasebackup(cluster));
      // Not a target: what the compression alone costs pg_basebackup itself.
      times.bareZstd.push(await bareBasebackup(cluster, true));
      last = await tidemarkBackup(stack, bus);
      times.tidemark.push(last.ms);
      stages.push(last.stages);
      times.pgbackrest.push((await pgbackrest.run(['backup', '--type=full'])).ms);
      console.log(
        `round ${round}: pg_basebackup ${seconds(times.bare.at(-1)!)} s ` +
          `(with client-zstd ${seconds(times.bareZstd.at(-1)!)} s), tidemark ${seconds(last.ms)} s ` +
          `(${(last.raw / MiB).toFixed(0)} → ${(last.compressed / MiB).toFixed(0)} MiB), ` +
          `pgbackrest ${seconds(times.pgbackrest.at(-1)!)} s (load ${load()[0]})`,
      );
    }
  } finally {
    await bus.close();
  }
  if (!last) throw new Error('no backup round ran');
  details['dumpBreakdownSeconds'] = await dumpBreakdown(cluster, scratch);
  console.log(`Tidemark's dump pieces: ${JSON.stringify(details['dumpBreakdownSeconds'])}`);
  const tidemark = seconds(median(times.tidemark));
  details['baseBackup'] = {
    rounds: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map(seconds)])),
    tidemarkStageSeconds: stages,
    rawBytes: last.raw,
    compressedBytes: last.compressed,
    tidemarkMiBps: round1(last.raw / MiB / (median(times.tidemark) / 1000)),
  };
  figure(
    'base backup, trigger → committed (s)',
    's',
    tidemark,
    { tool: 'pg_basebackup -Ft -X none > /dev/null', value: seconds(median(times.bare)) },
    { text: `≤ ${TARGETS.vsBasebackup}×`, met: (f) => (f.ratio ?? Infinity) <= TARGETS.vsBasebackup },
  );
  figure(
    'base backup, trigger → committed (s)',
    's',
    tidemark,
    { tool: 'pgbackrest backup --type=full (zst, process-max=2)', value: seconds(median(times.pgbackrest)) },
    { text: 'not slower (≤ 1×)', met: (f) => (f.ratio ?? Infinity) <= TARGETS.vsPgBackRest },
  );
  return last.backupId;
}

// ---------------------------------------------------------------- 4a. restore of the base backup

async function benchBaseRestores(
  stack: TestStack,
  pgbackrest: PgBackRest,
  backupId: string,
  scratch: string,
): Promise<void> {
  const times = { tidemark: [] as number[], pgbackrest: [] as number[] };
  const verifications: string[] = [];
  for (let round = 1; round <= SETTINGS.restoreRounds; round++) {
    const into = join(scratch, `tidemark-restore-${round}`);
    const ran = await cli(stack, ['restore', TARGET_ID, '--backup', backupId, '--to', into]);
    if (ran.code !== 0) throw new Error(`tidemark restore failed: ${ran.stderr.slice(-2000)}`);
    times.tidemark.push(ran.ms);
    // What was restored is the backup, file by file (not timed); the WAL placed for recovery is not in its manifest.
    const verified = await runTool(join(PG_BIN, 'pg_verifybackup'), [
      '--no-parse-wal',
      '-i',
      'tidemark-wal',
      into,
    ]);
    verifications.push(
      verified.code === 0 ? 'ok' : verified.stderr.trim().split('\n').slice(0, 3).join('; '),
    );
    await rm(into, { recursive: true, force: true });

    const bare = await postgresDir(join(scratch, `pgbackrest-restore-${round}`));
    times.pgbackrest.push((await pgbackrest.run(['restore', `--pg1-path=${bare}`])).ms);
    await rm(bare, { recursive: true, force: true });
    console.log(
      `restore round ${round}: tidemark ${seconds(times.tidemark.at(-1)!)} s, ` +
        `pgbackrest ${seconds(times.pgbackrest.at(-1)!)} s`,
    );
  }
  details['baseRestore'] = {
    ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map(seconds)])),
    tidemarkPgVerifybackup: verifications,
  };
  figure(
    'restore of the base backup (s)',
    's',
    seconds(median(times.tidemark)),
    { tool: 'pgbackrest restore', value: seconds(median(times.pgbackrest)) },
    { text: 'not slower (≤ 1×)', met: (f) => (f.ratio ?? Infinity) <= 1 },
  );
}

// ---------------------------------------------------------------- 2. WAL archiving under load

async function currentLsn(client: Client): Promise<bigint> {
  const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return parsePgLsn(rows[0]!.lsn);
}

async function pgBackRestArchived(client: Client): Promise<bigint> {
  const { rows } = await client.query<{ wal: string | null }>(
    'SELECT last_archived_wal AS wal FROM pg_stat_archiver',
  );
  const wal = rows[0]?.wal;
  return wal && /^[0-9A-F]{24}$/.test(wal) ? segmentEndLsn(wal, SEGMENT_BYTES) : 0n;
}

interface PgbenchChunk {
  rate: number | null;
  tps: number;
  walBytes: number;
  seconds: number;
}

/** One pgbench -N run of `seconds` (at `rate` transactions per second when given) and the WAL it wrote. */
async function pgbenchChunk(
  cluster: ScratchCluster,
  client: Client,
  seconds: number,
  rate: number | null,
): Promise<PgbenchChunk> {
  const before = await currentLsn(client);
  const args = ['-N', '-c', '4', '-j', '2', '-T', String(seconds), ...(rate ? ['-R', String(rate)] : [])];
  const ran = await mustRun('pgbench', [...args, ...pgArgs(cluster), 'postgres']);
  const walBytes = Number((await currentLsn(client)) - before);
  const tps = Number(/tps = ([\d.]+)/.exec(ran.stdout)?.[1] ?? 0);
  return { rate, tps, walBytes, seconds: ran.ms / 1000 };
}

/**
 * The load, in chunks of up to 20 s: each chunk's -R comes from the WAL per transaction the previous one wrote, so
 * the server fills a segment every SETTINGS.segmentEverySeconds however full-page writes after a checkpoint
 * change the WAL per transaction. A rate the machine cannot reach runs unthrottled (and the figures say so).
 */
async function pgbenchLoad(
  cluster: ScratchCluster,
  client: Client,
  calibration: PgbenchChunk,
): Promise<PgbenchChunk[]> {
  const chunkSeconds = Math.min(20, Math.max(5, Math.round(SETTINGS.loadSeconds / 2)));
  const chunks: PgbenchChunk[] = [];
  let previous = calibration;
  for (let done = 0; done < SETTINGS.loadSeconds; done += chunkSeconds) {
    const bytesPerTxn = previous.walBytes / Math.max(1, previous.tps * previous.seconds);
    const wanted = Math.round(SEGMENT_BYTES / SETTINGS.segmentEverySeconds / bytesPerTxn);
    const rate = wanted < calibration.tps * 0.9 ? wanted : null;
    previous = await pgbenchChunk(cluster, client, Math.min(chunkSeconds, SETTINGS.loadSeconds - done), rate);
    chunks.push(previous);
    console.log(
      `  pgbench -R ${rate ?? 'unthrottled'}: ${previous.tps.toFixed(0)} tps, ` +
        `${(previous.walBytes / MiB / previous.seconds).toFixed(1)} MiB/s of WAL (load ${load()[0]})`,
    );
  }
  return chunks;
}

async function sampleWhile(
  client: Client,
  archiver: WalShipper,
  running: () => boolean,
): Promise<WalSample[]> {
  const samples: WalSample[] = [];
  const sample = async (): Promise<void> => {
    const [serverLsn, pgbackrest] = await Promise.all([currentLsn(client), pgBackRestArchived(client)]);
    samples.push({ at: Date.now(), serverLsn, archived: { tidemark: archiver.archivedLsn, pgbackrest } });
  };
  while (running()) {
    const tick = Date.now();
    await sample();
    await sleep(Math.max(0, 1000 - (Date.now() - tick)));
  }
  await sample();
  return samples;
}

interface LoadRun {
  samples: WalSample[];
  loadEnd: number;
  drainedAt: Record<'tidemark' | 'pgbackrest', number>;
  startedAt: number;
  endLsn: bigint;
  calibration: PgbenchChunk;
  chunks: PgbenchChunk[];
}

async function runLoad(cluster: ScratchCluster, client: Client, archiver: WalShipper): Promise<LoadRun> {
  const calibration = await pgbenchChunk(cluster, client, SETTINGS.calibrateSeconds, null);
  console.log(
    `calibration (unthrottled): ${calibration.tps.toFixed(0)} tps, ` +
      `${(calibration.walBytes / MiB / calibration.seconds).toFixed(1)} MiB/s of WAL`,
  );
  // A connection of its own: the load's client waits for pgbench while this one samples every second.
  const sampler = new Client({ connectionString: cluster.url });
  await sampler.connect();
  try {
    let sampling = true;
    const drainedAt = { tidemark: 0, pgbackrest: 0 };
    const samplesDone = sampleWhile(sampler, archiver, () => sampling);
    const startedAt = Date.now();
    const chunks = await pgbenchLoad(cluster, client, calibration);
    const loadEnd = Date.now();
    // The last segment completes now, so both archives can catch up to a known end.
    const { rows } = await client.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
    const endLsn = parsePgLsn(rows[0]!.lsn);
    await waitFor(
      async () => {
        if (!drainedAt.tidemark && archiver.archivedLsn >= endLsn) drainedAt.tidemark = Date.now();
        if (!drainedAt.pgbackrest && (await pgBackRestArchived(client)) >= endLsn)
          drainedAt.pgbackrest = Date.now();
        return drainedAt.tidemark > 0 && drainedAt.pgbackrest > 0;
      },
      { timeoutMs: 600_000, intervalMs: 200, what: 'both archives to hold the WAL written under load' },
    );
    sampling = false;
    const samples = await samplesDone;
    return { samples, loadEnd, drainedAt, startedAt, endLsn, calibration, chunks };
  } finally {
    await sampler.end();
  }
}

async function benchWalArchiving(cluster: ScratchCluster, archiver: WalShipper): Promise<LoadRun> {
  const client = new Client({ connectionString: cluster.url });
  await client.connect();
  try {
    const run = await runLoad(cluster, client, archiver);
    reportWal(run, archiver);
    return run;
  } finally {
    await client.end();
  }
}

const maxOf = (values: number[]): number | null => (values.length ? round1(Math.max(...values)) : null);
const p95Of = (values: number[]): number | null => (values.length ? round1(percentile(values, 95)) : null);

/** Per segment completed under load: from the server passing its end to its commit in Blob Storage. */
function segmentLatencies(run: LoadRun, segments: Shipped[]): number[] {
  return segments
    .map((s) => {
      const completed = reachedAt(run.samples, segmentEndLsn(s.file, SEGMENT_BYTES));
      return completed === undefined ? undefined : (s.at - completed) / 1000;
    })
    .filter((v) => v !== undefined);
}

function reportWal(run: LoadRun, archiver: WalShipper): void {
  const lags = (archive: 'tidemark' | 'pgbackrest'): number[] =>
    run.samples.map((_, i) => lagAt(run.samples, i, archive));
  const lag = { tidemark: lags('tidemark'), pgbackrest: lags('pgbackrest') };
  const first = run.samples[0]!;
  const segments = archiver.shipped.filter(
    (s) => s.kind === 'segment' && segmentEndLsn(s.file, SEGMENT_BYTES) > first.serverLsn,
  );
  const latencies = segmentLatencies(run, segments);
  const loadSeconds = (run.loadEnd - run.startedAt) / 1000;
  const walBytes = Number(run.endLsn - first.serverLsn);
  const raw = segments.reduce((sum, s) => sum + s.rawBytes, 0);
  const compressed = segments.reduce((sum, s) => sum + s.compressedBytes, 0);
  const shipSeconds = (run.drainedAt.tidemark - run.startedAt) / 1000;
  details['wal'] = {
    calibration: run.calibration,
    chunks: run.chunks,
    loadSeconds: round1(loadSeconds),
    serverWalMiB: round1(walBytes / MiB),
    serverWalMiBps: round1(walBytes / MiB / loadSeconds),
    segmentFillSeconds: round1(loadSeconds / (walBytes / SEGMENT_BYTES)),
    segmentsShipped: segments.length,
    partialsShipped: archiver.shipped.filter((s) => s.kind === 'partial' && s.at >= run.startedAt).length,
    shippedRawMiB: round1(raw / MiB),
    shippedCompressedMiB: round1(compressed / MiB),
    drainSeconds: {
      tidemark: round1((run.drainedAt.tidemark - run.loadEnd) / 1000),
      pgbackrest: round1((run.drainedAt.pgbackrest - run.loadEnd) / 1000),
    },
    segmentCommitLatencySeconds: {
      max: maxOf(latencies),
      p95: p95Of(latencies),
      median: latencies.length ? round1(median(latencies)) : null,
    },
    failures: archiver.failures,
    lagSeries: { tidemark: lag.tidemark.map(round1), pgbackrest: lag.pgbackrest.map(round1) },
  };
  walFigures(lag, latencies, {
    shipped: round1(raw / MiB / shipSeconds),
    written: round1(walBytes / MiB / loadSeconds),
  });
}

function walFigures(
  lag: Record<'tidemark' | 'pgbackrest', number[]>,
  latencies: number[],
  rates: { shipped: number; written: number },
): void {
  const lagTarget = {
    text: `≤ ${TARGETS.lagSeconds} s`,
    met: (f: { tidemark: number }) => f.tidemark <= TARGETS.lagSeconds,
  };
  const stock = (value: number | null) => ({ tool: 'pgbackrest archive-push (archive_command)', value });
  figure('WAL archive lag, max (s)', 's', maxOf(lag.tidemark), stock(maxOf(lag.pgbackrest)), lagTarget);
  figure('WAL archive lag, p95 (s)', 's', p95Of(lag.tidemark), stock(p95Of(lag.pgbackrest)), lagTarget);
  figure(
    'segment complete → committed, max (s)',
    's',
    maxOf(latencies),
    { tool: '-', value: null },
    lagTarget,
  );
  figure(
    'segment complete → committed, p95 (s)',
    's',
    p95Of(latencies),
    { tool: '-', value: null },
    lagTarget,
  );
  figure(
    'WAL shipped under load (MiB/s raw)',
    'MiB/s',
    rates.shipped,
    { tool: 'the server wrote (MiB/s)', value: rates.written },
    null,
  );
}

/** Every segment from the first one shipped to the newest is in the archive, checked with its sha256. */
async function checkArchive(stack: TestStack, archiver: WalShipper): Promise<void> {
  const first = archiver.shipped.find((s) => s.kind === 'segment' || s.kind === 'partial');
  if (!first) throw new Error('the archiver shipped nothing');
  const archive = new WalArchive(
    AzureBlobStore.fromConnectionString(stack.env['AZURE_STORAGE_CONNECTION_STRING']!, CONTAINER),
  );
  const fromLsn = segmentEndLsn(first.file, SEGMENT_BYTES) - BigInt(SEGMENT_BYTES);
  const report = await archive.checkContinuity(
    TARGET_ID,
    { timeline: 1, lsn: formatLsn(fromLsn) },
    { verifyChecksums: !SMOKE },
  );
  details['continuity'] = { from: report.checkedFrom, to: report.checkedTo, problems: report.problems };
  if (report.problems.length > 0)
    throw new Error(`the WAL archive has problems: ${JSON.stringify(report.problems)}`);
  console.log(
    `archive continuous from ${report.checkedFrom} to ${report.checkedTo}${SMOKE ? '' : ', every sha256 checked'}`,
  );
}

// ---------------------------------------------------------------- 4b. restore to a time

interface PointInTimeRestore {
  ms: number;
  /** The newest pgbench_history row the recovered server holds. */
  newestRow: string | null;
}

async function newestHistoryRow(port: number): Promise<string | null> {
  const client = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await client.connect();
  try {
    const { rows } = await client.query<{ newest: string | null }>(
      "SELECT to_char(max(mtime), 'YYYY-MM-DD HH24:MI:SS.US') AS newest FROM pgbench_history",
    );
    return rows[0]?.newest ?? null;
  } finally {
    await client.end();
  }
}

/** Starts the restored copy on its own port (its postgresql.conf still names the bench cluster's). */
async function startRestored(dir: string, port: number): Promise<void> {
  await writeFile(
    join(dir, 'postgresql.auto.conf'),
    `port = ${port}\nunix_socket_directories = '${dir}'\narchive_mode = off\n`,
    { flag: 'a' },
  );
  await mustRun(
    join(PG_BIN, 'pg_ctl'),
    ['-D', dir, '-l', join(dir, 'server.log'), '-w', '-t', '3600', 'start'],
    {
      asPostgres: true,
    },
  );
}

async function waitPromoted(port: number): Promise<void> {
  await waitFor(
    async () => {
      const client = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      await client.connect();
      try {
        return !(await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r;
      } finally {
        await client.end();
      }
    },
    { timeoutMs: 3_600_000, intervalMs: 100, what: `the restored server on ${port} to end recovery` },
  );
}

async function pgBackRestPointInTime(
  pgbackrest: PgBackRest,
  at: Date,
  scratch: string,
): Promise<PointInTimeRestore> {
  const dir = await postgresDir(join(scratch, 'pgbackrest-pitr'));
  const port = await freePort();
  const started = performance.now();
  try {
    await pgbackrest.run([
      'restore',
      `--pg1-path=${dir}`,
      '--type=time',
      `--target=${at.toISOString().replace('T', ' ').replace('Z', '+00')}`,
      '--target-action=promote',
    ]);
    await startRestored(dir, port);
    await waitPromoted(port);
    const ms = performance.now() - started;
    return { ms, newestRow: await newestHistoryRow(port) };
  } finally {
    await runTool(join(PG_BIN, 'pg_ctl'), ['-D', dir, '-m', 'immediate', '-w', 'stop'], { asPostgres: true });
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Tidemark's restore to a time (issue 13, item 4), timed like pgBackRest's above: files + start + recovery to `at`,
 * promoted, through the CLI (`restore <target> --at <time> --to <dir> --start --port N`). A CLI without those flags
 * (an older checkout) gives `{ notBuilt }` with its answer, and the table shows "not built".
 */
async function tidemarkPointInTime(
  stack: TestStack,
  at: Date,
  scratch: string,
): Promise<PointInTimeRestore | { notBuilt: string }> {
  const dir = join(scratch, 'tidemark-pitr');
  const port = await freePort();
  try {
    const ran = await cli(stack, [
      'restore',
      TARGET_ID,
      '--at',
      at.toISOString(),
      '--to',
      dir,
      '--start',
      '--port',
      String(port),
    ]);
    if (ran.code !== 0) {
      const lines = ran.stderr.trim().split('\n');
      return { notBuilt: lines.find((line) => /error/i.test(line)) ?? lines[0] ?? `exit ${ran.code}` };
    }
    await waitPromoted(port);
    return { ms: ran.ms, newestRow: await newestHistoryRow(port) };
  } finally {
    await runTool(join(PG_BIN, 'pg_ctl'), ['-D', dir, '-m', 'immediate', '-w', 'stop'], { asPostgres: true });
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchPointInTime(
  stack: TestStack,
  pgbackrest: PgBackRest,
  run: LoadRun,
  scratch: string,
): Promise<void> {
  // A time inside the load, a few seconds before its end: recovery replays nearly all of the load's WAL.
  const at = new Date(run.loadEnd - 5_000);
  const stock = await pgBackRestPointInTime(pgbackrest, at, scratch);
  const ours = await tidemarkPointInTime(stack, at, scratch);
  details['pointInTime'] = {
    at: at.toISOString(),
    pgbackrest: { seconds: seconds(stock.ms), newestRow: stock.newestRow },
    tidemark: 'notBuilt' in ours ? ours : { seconds: seconds(ours.ms), newestRow: ours.newestRow },
  };
  console.log(
    `restore to ${at.toISOString()}: pgbackrest ${seconds(stock.ms)} s (newest row ${stock.newestRow}); tidemark ${'notBuilt' in ours ? `not built (${ours.notBuilt})` : `${seconds(ours.ms)} s (newest row ${ours.newestRow})`}`,
  );
  figure(
    'restore to a time: files + recovery + promote (s)',
    's',
    'notBuilt' in ours ? null : seconds(ours.ms),
    { tool: 'pgbackrest restore --type=time', value: seconds(stock.ms) },
    { text: 'not slower (≤ 1×)', met: (f) => (f.ratio ?? Infinity) <= 1 },
  );
}

// ---------------------------------------------------------------- 3. peak RSS

async function reportRss(
  stack: TestStack,
  archiver: { label: string; vmHwm: number; maxRss: number },
): Promise<void> {
  const rows: Array<[string, number]> = [];
  const breakdown: Record<string, unknown> = {};
  for (const name of SERVICE_NAMES) {
    const pid = stack.service(name).child.pid;
    if (!pid) continue;
    rows.push([name, await peakRss(pid)]);
    breakdown[name] = await rssStatus(pid);
  }
  breakdown['archiver'] = { VmHWM: round1(archiver.vmHwm / MiB), maxRSS: round1(archiver.maxRss / MiB) };
  details['rssAtEndMiB'] = breakdown;
  if (!(SERVICE_NAMES as readonly string[]).includes('archiver'))
    rows.push([archiver.label, Math.max(archiver.vmHwm, archiver.maxRss)]);
  for (const [command, bytes] of Object.entries(cliPeaks)) rows.push([command, bytes]);
  details['peakRssMiB'] = Object.fromEntries(rows.map(([name, bytes]) => [name, round1(bytes / MiB)]));
  for (const [name, bytes] of rows)
    figure(
      `peak RSS ${name} (MiB)`,
      'MiB',
      round1(bytes / MiB),
      { tool: '-', value: null },
      {
        text: `< ${TARGETS.rssBytes / MiB} MiB`,
        met: (f) => f.tidemark < TARGETS.rssBytes / MiB,
      },
    );
}

// ---------------------------------------------------------------- table

function printTable(): void {
  const header = ['figure', 'Tidemark', 'stock tool', 'stock', 'ratio', 'target', 'met?'];
  const lines = figures.map((f) => [
    f.figure,
    f.tidemark === null ? 'not built' : String(f.tidemark),
    f.stockTool,
    f.stock === null ? '-' : String(f.stock),
    f.ratio === null ? '-' : `${f.ratio.toFixed(2)}×`,
    f.target,
    f.met === null ? '-' : f.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (line: string[]): string => line.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  console.log(`\n${format(header)}`);
  for (const line of lines) console.log(format(line));
}

async function writeResults(startedAt: Date): Promise<string> {
  const file = join(
    REPO_ROOT,
    'bench',
    'results',
    `physical-${startedAt.toISOString().slice(0, 10)}${SMOKE ? '-smoke' : ''}.json`,
  );
  await mkdir(dirname(file), { recursive: true });
  const command =
    `${SMOKE ? 'BENCH_SCALE=smoke ' : ''}node -r ./tools/register.js bench/physical.ts ${process.argv.slice(2).join(' ')}`.trim();
  const json = {
    startedAt: startedAt.toISOString(),
    command,
    smoke: SMOKE,
    settings: SETTINGS,
    nproc: availableParallelism(),
    loadAverage: loadByPhase,
    figures,
    details,
  };
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  return file;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const startedAt = new Date();
  console.log(
    `${SMOKE ? 'SMOKE run' : 'full run'}; ${availableParallelism()} CPUs; load average ${load().join(' ')}`,
  );
  const scratch = await postgresDir(await mkdtemp(join(tmpdir(), 'tidemark-bench-physical-')));
  const cleanups: Array<() => Promise<unknown>> = [() => rm(scratch, { recursive: true, force: true })];
  try {
    const cluster = await phase('generate', createCluster);
    cleanups.push(() => cluster.remove());
    const pgbackrest = await PgBackRest.create(cluster);
    cleanups.push(() => pgbackrest.remove());
    await enablePgBackRestArchiving(cluster, pgbackrest);
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const stack = await startStack(cluster, redis);
    cleanups.push(() => stack.stop());
    details['servicesRssAtStartMiB'] = Object.fromEntries(
      await Promise.all(
        SERVICE_NAMES.map(async (name) => [
          name,
          round1((await peakRss(stack.service(name).child.pid!)) / MiB),
        ]),
      ),
    );
    // The archiver streams from here on, as in production: the base backups' WAL is archived too.
    const archiver = await startShipper(stack, cluster, join(scratch, 'spool'));
    let archiverRss: Promise<{ vmHwm: number; maxRss: number }> | undefined;
    cleanups.push(() => (archiverRss ??= archiver.stop()));
    const backupId = await phase('base backups', () => benchBaseBackups(cluster, stack, pgbackrest, scratch));
    await phase('base backup restores', () => benchBaseRestores(stack, pgbackrest, backupId, scratch));
    const run = await phase('WAL archiving under load', () => benchWalArchiving(cluster, archiver));
    await phase('archive check', () => checkArchive(stack, archiver));
    await phase('restore to a time', () => benchPointInTime(stack, pgbackrest, run, scratch));
    await reportRss(stack, { label: archiver.label, ...(await (archiverRss ??= archiver.stop())) });
    printTable();
    console.log(`\nresults: ${await writeResults(startedAt)}`);
  } finally {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error: unknown) => {
        console.error(`cleanup: ${String(error)}`);
      });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
