/**
 * What bench/physical.ts needs around the measurements: running tools (as the postgres user where PostgreSQL
 * demands it), peak RSS of child processes, medians and percentiles, the WAL-position arithmetic of the lag, and
 * pgBackRest set up against the bench's own cluster (a local repo in a temp dir, compress-type=zst, process-max=2).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SEGMENT_BYTES, parseSegmentFileName, segmentStart } from '@tidemark/wal';

export const MiB = 1024 ** 2;

export interface RunOptions {
  /** Run as the postgres user (server tools and pgBackRest refuse root or need the data directory's owner). */
  asPostgres?: boolean;
  env?: NodeJS.ProcessEnv;
  /** A file that receives stdout (e.g. /dev/null); otherwise stdout is collected and returned. */
  stdoutFile?: string;
}

export interface Ran {
  stdout: string;
  stderr: string;
  ms: number;
  /** VmHWM of the direct child, sampled every 100 ms while it ran (0 when never read). */
  peakRssBytes: number;
  code: number;
}

/** Spawns `command` (via runuser when asked and root); resolves when it exits, whatever its code. */
export async function runTool(command: string, args: string[], options: RunOptions = {}): Promise<Ran> {
  const [file, argv] =
    options.asPostgres && process.getuid?.() === 0
      ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
      : [command, args];
  const output = options.stdoutFile === undefined ? undefined : await open(options.stdoutFile, 'w');
  const started = performance.now();
  try {
    const child = spawn(file, argv, {
      env: options.env ?? process.env,
      stdio: ['ignore', output?.fd ?? 'pipe', 'pipe'],
    });
    const watch = watchPeakRss(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8000);
    });
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exit, signal) => {
        resolve(exit ?? (signal ? 128 : 1));
      });
    });
    return { stdout, stderr, ms: performance.now() - started, peakRssBytes: watch.stop(), code };
  } finally {
    await output?.close();
  }
}

/** runTool that rejects on a non-zero exit, naming the command and the end of its stderr. */
export async function mustRun(command: string, args: string[], options: RunOptions = {}): Promise<Ran> {
  const ran = await runTool(command, args, options);
  if (ran.code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${ran.code}: ${ran.stderr.trim().slice(-1500)}`);
  return ran;
}

/** VmHWM (peak resident set) of a live process, in bytes; 0 once it is gone. */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Peak and current resident set of a live process, and how much of the current one is anonymous (heap). */
export async function rssStatus(
  pid: number,
): Promise<Record<'VmHWM' | 'VmRSS' | 'RssAnon' | 'RssFile', number>> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  const mib = (field: string): number => Math.round(kb(field) / 102.4) / 10;
  return { VmHWM: mib('VmHWM'), VmRSS: mib('VmRSS'), RssAnon: mib('RssAnon'), RssFile: mib('RssFile') };
}

/** Samples a child's VmHWM until stop(); VmHWM only grows, so the last read before the exit is the peak. */
export function watchPeakRss(child: ChildProcess): { stop(): number } {
  let peak = 0;
  const read = (): void => {
    if (child.pid === undefined) return;
    void peakRss(child.pid).then((bytes) => (peak = Math.max(peak, bytes)));
  };
  read();
  const timer = setInterval(read, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function parsePgLsn(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high ?? '0'}`) << 32n) + BigInt(`0x${low ?? '0'}`);
}

/** The LSN just past segment `file`: everything below it is in the archive once the segment is. */
export function segmentEndLsn(file: string, segmentBytes = DEFAULT_SEGMENT_BYTES): bigint {
  const segment = parseSegmentFileName(file, segmentBytes);
  if (!segment) throw new Error(`not a WAL segment name: ${file}`);
  return segmentStart({ ...segment, segno: segment.segno + 1n }, segmentBytes);
}

/** One sample of the server's WAL position (pg_current_wal_lsn) and of what each archive holds at that moment. */
export interface WalSample {
  at: number;
  serverLsn: bigint;
  /** End of the newest segment committed to the archive (0 before the first). */
  archived: Record<'tidemark' | 'pgbackrest', bigint>;
}

/**
 * The recovery-point lag at sample `i`: how old the oldest WAL byte not yet in the archive is (now minus the moment
 * the server's position passed the archive's end, interpolated between samples); 0 when everything is archived.
 */
export function lagAt(samples: WalSample[], i: number, archive: 'tidemark' | 'pgbackrest'): number {
  const now = samples[i]!;
  const archived = now.archived[archive];
  if (now.serverLsn <= archived) return 0;
  for (let j = 0; j <= i; j++) {
    const sample = samples[j]!;
    if (sample.serverLsn <= archived) continue;
    const before = samples[j - 1];
    if (!before) return (now.at - sample.at) / 1000;
    const span = Number(sample.serverLsn - before.serverLsn);
    const passedAt = before.at + (Number(archived - before.serverLsn) / span) * (sample.at - before.at);
    return (now.at - passedAt) / 1000;
  }
  return 0;
}

/** When the server's position first reached `lsn` (interpolated), or undefined when it never did. */
export function reachedAt(samples: WalSample[], lsn: bigint): number | undefined {
  for (let j = 0; j < samples.length; j++) {
    const sample = samples[j]!;
    if (sample.serverLsn < lsn) continue;
    const before = samples[j - 1];
    if (!before) return sample.at;
    const span = Number(sample.serverLsn - before.serverLsn);
    return before.at + (Number(lsn - before.serverLsn) / span) * (sample.at - before.at);
  }
  return undefined;
}

/** Makes `path` the postgres user's (pgBackRest and the restored servers run as postgres). */
export async function ownByPostgres(path: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const uid = Number((await mustRun('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await mustRun('id', ['-g', 'postgres'])).stdout.trim());
  await chown(path, uid, gid);
}

/** An empty directory owned by postgres with mode 700, as a data directory must be. */
export async function postgresDir(path: string): Promise<string> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await ownByPostgres(path);
  return path;
}

export interface PgBackRestCluster {
  dataDir: string;
  port: number;
}

/** pgBackRest with a local repository in a temp dir, one stanza (`bench`) for the bench's cluster. */
export class PgBackRest {
  static readonly STANZA = 'bench';

  private constructor(
    readonly dir: string,
    private readonly configPath: string,
  ) {}

  static async create(cluster: PgBackRestCluster): Promise<PgBackRest> {
    const dir = await postgresDir(await mkdtemp(join(tmpdir(), 'tidemark-bench-pgbackrest-')));
    for (const sub of ['repo', 'log', 'lock', 'spool']) await postgresDir(join(dir, sub));
    const configPath = join(dir, 'pgbackrest.conf');
    await writeFile(
      configPath,
      [
        '[global]',
        `repo1-path=${join(dir, 'repo')}`,
        'repo1-retention-full=99',
        'compress-type=zst',
        'process-max=2',
        'archive-check=n',
        'start-fast=y',
        `log-path=${join(dir, 'log')}`,
        `lock-path=${join(dir, 'lock')}`,
        `spool-path=${join(dir, 'spool')}`,
        'log-level-console=warn',
        'log-level-file=off',
        '',
        `[${PgBackRest.STANZA}]`,
        `pg1-path=${cluster.dataDir}`,
        `pg1-port=${cluster.port}`,
        `pg1-socket-path=${cluster.dataDir}`,
        'pg1-user=postgres',
        '',
      ].join('\n'),
    );
    await ownByPostgres(configPath);
    const pgbackrest = new PgBackRest(dir, configPath);
    await pgbackrest.run(['stanza-create']);
    return pgbackrest;
  }

  /** The archive_command that pushes each completed segment into the repo (synchronously, as configured). */
  get archiveCommand(): string {
    return `pgbackrest --config=${this.configPath} --stanza=${PgBackRest.STANZA} archive-push %p`;
  }

  run(args: string[]): Promise<Ran> {
    return mustRun('pgbackrest', [`--config=${this.configPath}`, `--stanza=${PgBackRest.STANZA}`, ...args], {
      asPostgres: true,
    });
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
