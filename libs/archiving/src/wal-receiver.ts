import { createHash, randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseHistoryFileName,
  parseSegmentFileName,
  segmentFileName,
  segmentOf,
  segmentStart,
  type SegmentName,
  type Timeline,
} from '@tidemark/wal';
import {
  conninfo,
  findPgReceivewal,
  parseTargetUrl,
  receiverEnv,
  type ReplicationTarget,
} from './connection';
import { ReplicationSlot, slotName } from './replication-slot';
import type { CommitResult, WalRoute } from '@tidemark/wal-archive';
import type { WalSink } from './wal-sink';

const PARTIAL = '.partial';

export interface ShippedFile {
  targetId: string;
  kind: 'segment' | 'history' | 'partial';
  timeline: Timeline;
  file: string;
  rawBytes: number;
  compressedBytes: number;
  result: CommitResult['result'] | 'partial';
  /** When its last byte reached the archiver (the file's mtime): what the archive lag is measured from. */
  receivedAt: Date;
  route: WalRoute;
}

export interface WalReceiverHooks {
  onShipped?(batch: ShippedFile[]): void;
  onFailure?(file: string, attempts: number, error: unknown, targetId: string): void;
  /**
   * The archive held everything the server had flushed at `at` (a quiet server writes no WAL: without this the
   * age of the newest shipped WAL would grow and look like lag).
   */
  onCaughtUp?(targetId: string, at: Date): void;
  /** Lines for the log: pg_receivewal's stderr and the receiver's own notes; never a password. */
  log?(line: string): void;
}

export interface WalReceiverOptions extends WalReceiverHooks {
  targetId: string;
  /** The physical target's url (a REPLICATION role). */
  url: string;
  sink: WalSink;
  /** The local spool: pg_receivewal's -D. Created when missing. */
  directory: string;
  shipPartialSeconds?: number;
  pollMs?: number;
  /** First retry delay after a failed upload or a pg_receivewal exit; doubles up to 30 s. */
  retryBaseMs?: number;
  env?: NodeJS.ProcessEnv;
}

interface Retry {
  attempts: number;
  notBefore: number;
}

/**
 * One target's continuous WAL stream: pg_receivewal (without --slot) writes into a local directory, a poller ships
 * what it finds to the sink, and only a committed segment advances the slot, so WAL that is only on this machine's
 * disk stays on the server.
 */
export class WalReceiver {
  readonly targetId: string;
  readonly slot: ReplicationSlot;
  private readonly target: ReplicationTarget;
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private segmentBytes = 0;
  private passing: Promise<void> = Promise.resolve();
  private readonly retries = new Map<string, Retry>();
  /** Segments whose .partial was shipped: the sink's partial goes once the segment is committed. */
  private readonly shippedPartials = new Set<string>();
  private partialMtime: { file: string; mtimeMs: number } | undefined;
  private lastPartialShip = 0;
  private lastCaughtUpCheck = 0;
  /**
   * pg_receivewal's application_name, unique per receiver (its row in pg_stat_replication), and starting with one
   * prefix per target (`streamPrefix`), so the next holder finds the streams a dead receiver left (63 bytes at most:
   * a hash of the target id rather than the id).
   */
  private readonly streamPrefix: string;
  private readonly applicationName: string;
  private restarts = 0;
  /** The last spawned pg_receivewal's argv, for inspection (it holds no password). */
  spawnedArgs: string[] = [];

  constructor(private readonly options: WalReceiverOptions) {
    this.targetId = options.targetId;
    this.target = parseTargetUrl(options.url);
    this.slot = new ReplicationSlot(this.target, slotName(options.targetId));
    this.streamPrefix = `tidemark-archiver-${createHash('sha256').update(options.targetId).digest('hex').slice(0, 8)}-`;
    this.applicationName = `${this.streamPrefix}${randomBytes(4).toString('hex')}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await mkdir(this.options.directory, { recursive: true });
    this.segmentBytes = (await this.slot.serverWal()).segmentBytes;
    await this.spawnReceiver();
    this.timer = setInterval(() => {
      this.schedulePass();
    }, this.options.pollMs ?? 500);
  }

  /** Stops pg_receivewal; with `ship`, then ships what is complete and the partial one last time. */
  async stop(options: { ship: boolean } = { ship: true }): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.killReceiver(options.ship ? 'SIGTERM' : 'SIGKILL');
    await this.passing;
    if (options.ship) await this.pass(true);
  }

  private log(line: string): void {
    this.options.log?.(`[archiver ${this.targetId}] ${line}`);
  }

  private schedulePass(): void {
    this.passing = this.passing
      .then(() => this.pass(false))
      .catch((err: unknown) => {
        this.log(describe(err));
      });
  }

  private async killReceiver(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        resolve();
      }),
    );
    child.kill(signal);
    const timeout = setTimeout(() => {
      child.kill('SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(timeout);
  }

  /** Kills pg_receivewal at once without shipping (the lease is gone, or a test plays a crash). */
  async abort(): Promise<void> {
    await this.stop({ ship: false });
  }

  private async spawnReceiver(): Promise<void> {
    // Again at every (re)start: after a failover the server is another one, without our slot.
    if (await this.slot.ensure()) this.log(`created replication slot ${this.slot.name}`);
    await this.endOrphanedStreams();
    await this.seed();
    const env = this.options.env ?? process.env;
    const binary = await findPgReceivewal(env);
    this.spawnedArgs = [
      '-D',
      this.options.directory,
      '-d',
      conninfo(this.target, this.applicationName),
      '-n',
      '--no-password',
      '-s',
      '1',
    ];
    const child = spawn(binary, this.spawnedArgs, {
      env: receiverEnv(this.target, env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim()) this.log(line.trim());
    });
    child.on('error', (err) => {
      this.log(`pg_receivewal: ${err.message}`);
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child || !this.running) return;
      this.respawnLater(`pg_receivewal exited (${signal ?? String(code)})`);
    });
  }

  /** A stream a dead receiver left is ended; failing to end it (no right to) must not stop this one. */
  private async endOrphanedStreams(): Promise<void> {
    try {
      const ended = await this.slot.endOtherStreams(this.streamPrefix, this.applicationName);
      if (ended > 0)
        this.log(`ended ${String(ended)} WAL stream(s) left by an earlier receiver of this target`);
    } catch (error) {
      this.log(`could not end WAL streams left by an earlier receiver: ${describe(error)}`);
    }
  }

  /** Starts pg_receivewal again after a backoff, and again after that while the start itself fails. */
  private respawnLater(why: string): void {
    this.restarts++;
    const delay = this.backoff(this.restarts);
    this.log(`${why}; restarting in ${String(delay)} ms`);
    setTimeout(() => {
      if (!this.running) return;
      this.spawnReceiver().catch((err: unknown) => {
        this.respawnLater(`starting pg_receivewal failed: ${describe(err)}`);
      });
    }, delay);
  }

  private backoff(attempts: number): number {
    return Math.min((this.options.retryBaseMs ?? 1000) * 2 ** Math.max(0, attempts - 1), 30_000);
  }

  /**
   * pg_receivewal starts after the newest complete segment in its directory, or at the start of a full-size
   * `.partial`. An empty directory would make it start at the server's current position and leave a gap, so the
   * receiver places a sparse `.partial` of the segment after the archive's newest (or of the slot's restart_lsn).
   */
  private async seed(): Promise<void> {
    const names = await readdir(this.options.directory);
    const hasWal = names.some((name) => parseSegmentFileName(name.replace(PARTIAL, ''), this.segmentBytes));
    if (hasWal) return;
    const start = await this.startSegment();
    const file = `${segmentFileName(start, this.segmentBytes)}${PARTIAL}`;
    const handle = await open(join(this.options.directory, file), 'w');
    try {
      await handle.truncate(this.segmentBytes);
    } finally {
      await handle.close();
    }
    const seeded = await stat(join(this.options.directory, file));
    // The seed itself is no WAL: ship the partial only once pg_receivewal has written to it.
    this.partialMtime = { file, mtimeMs: seeded.mtimeMs };
    // A receiver before this one (another replica, a crash) may have shipped this segment's partial.
    this.shippedPartials.add(segmentFileName(start, this.segmentBytes));
    this.log(`streaming from segment ${file.replace(PARTIAL, '')}`);
  }

  private async startSegment(): Promise<SegmentName> {
    const newest = await this.options.sink.newestSegment(this.targetId);
    if (newest) {
      const segment = parseSegmentFileName(newest.file, this.segmentBytes);
      if (!segment) throw new Error(`the archive's newest segment "${newest.file}" is not a segment name`);
      return { timeline: newest.timeline, segno: segment.segno + 1n };
    }
    const restartLsn = await this.slot.restartLsn();
    if (restartLsn === null) throw new Error(`replication slot ${this.slot.name} reserves no WAL`);
    const { timeline } = await this.slot.serverWal();
    return segmentOf(restartLsn, timeline, this.segmentBytes);
  }

  /** One look at the directory: history files, complete segments in order, then the partial when due. */
  private async pass(final: boolean): Promise<void> {
    const names = (await readdir(this.options.directory)).sort();
    const batch: ShippedFile[] = [];
    for (const name of names.filter((n) => parseHistoryFileName(n) !== null)) {
      if (!(await this.ship(name, batch, () => this.commitHistory(name)))) break;
    }
    for (const name of names) {
      const segment = parseSegmentFileName(name, this.segmentBytes);
      if (!segment) continue;
      const info = await stat(join(this.options.directory, name));
      if (info.size !== this.segmentBytes) continue;
      if (!(await this.ship(name, batch, () => this.commitSegment(name, segment, info.mtime)))) break;
    }
    // After a timeline switch pg_receivewal leaves the old timeline's last segment as a .partial it never writes
    // again: it is shipped once more (the end of that timeline) and removed; the newest is the live one.
    const partials = names.filter(
      (n) => n.endsWith(PARTIAL) && parseSegmentFileName(n.slice(0, -PARTIAL.length)),
    );
    const partial = partials.at(-1);
    for (const stale of partials.slice(0, -1)) {
      if (!(await this.ship(stale, batch, () => this.retirePartial(stale)))) break;
    }
    const dueMs = (this.options.shipPartialSeconds ?? 10) * 1000;
    if (partial && (final || Date.now() - this.lastPartialShip >= dueMs)) {
      await this.ship(partial, batch, () => this.shipPartial(partial));
    }
    if (batch.length) this.options.onShipped?.(batch);
    if (!final && partial && Date.now() - this.lastCaughtUpCheck >= dueMs) await this.checkCaughtUp(partial);
  }

  /** When nothing is waiting and the shipped partial is the newest WAL the server has, the archive is current. */
  private async checkCaughtUp(partial: string): Promise<void> {
    this.lastCaughtUpCheck = Date.now();
    if (this.retries.size > 0 || !this.options.onCaughtUp) return;
    const info = await stat(join(this.options.directory, partial)).catch(() => null);
    const last = this.partialMtime;
    if (!info || last?.file !== partial || last.mtimeMs !== info.mtimeMs) return;
    const at = new Date();
    if (await this.slot.caughtUp(this.applicationName)) this.options.onCaughtUp(this.targetId, at);
  }

  /** Runs one upload unless its retry is not yet due; false when it failed or waits (later files must wait). */
  private async ship(
    name: string,
    batch: ShippedFile[],
    upload: () => Promise<ShippedFile | null>,
  ): Promise<boolean> {
    const retry = this.retries.get(name);
    if (retry && Date.now() < retry.notBefore) return false;
    try {
      const shipped = await upload();
      this.retries.delete(name);
      if (shipped) batch.push(shipped);
      return true;
    } catch (err) {
      const attempts = (retry?.attempts ?? 0) + 1;
      this.retries.set(name, { attempts, notBefore: Date.now() + this.backoff(attempts) });
      this.log(`shipping ${name} failed (attempt ${String(attempts)}): ${describe(err)}`);
      this.options.onFailure?.(name, attempts, err, this.targetId);
      return false;
    }
  }

  private async commitSegment(name: string, segment: SegmentName, receivedAt: Date): Promise<ShippedFile> {
    const path = join(this.options.directory, name);
    const base = { targetId: this.targetId, timeline: segment.timeline, file: name, path, receivedAt };
    const committed = await this.options.sink.commitSegment({ ...base, route: 'stream' });
    await this.slot.advance(segmentStart({ ...segment, segno: segment.segno + 1n }, this.segmentBytes));
    await rm(path);
    if (this.shippedPartials.delete(name)) {
      await this.options.sink.removePartial(this.targetId, segment.timeline, name);
    }
    return { ...shippedOf(base, 'segment', committed), result: committed.result };
  }

  private async commitHistory(name: string): Promise<ShippedFile> {
    const path = join(this.options.directory, name);
    const timeline = parseHistoryFileName(name) ?? 0;
    const receivedAt = (await stat(path)).mtime;
    const base = { targetId: this.targetId, timeline, file: name, path, receivedAt };
    const committed = await this.options.sink.commitHistory({ ...base, route: 'stream' });
    await rm(path);
    return { ...shippedOf(base, 'history', committed), result: committed.result };
  }

  /** Ships a partial of an older timeline a last time and removes it: no segment will ever complete it. */
  private async retirePartial(name: string): Promise<ShippedFile | null> {
    this.partialMtime = undefined;
    const shipped = await this.shipPartial(name);
    this.shippedPartials.delete(name.slice(0, -PARTIAL.length));
    await rm(join(this.options.directory, name), { force: true });
    return shipped;
  }

  private async shipPartial(name: string): Promise<ShippedFile | null> {
    const path = join(this.options.directory, name);
    // pg_receivewal may have completed and renamed it since the directory was read.
    const info = await stat(path).catch(() => null);
    if (!info) return null;
    const last = this.partialMtime;
    if (last && last.file === name && last.mtimeMs === info.mtimeMs) return null;
    const file = name.slice(0, -PARTIAL.length);
    const segment = parseSegmentFileName(file, this.segmentBytes);
    if (!segment) return null;
    let shipped: CommitResult;
    try {
      shipped = await this.options.sink.shipPartial({
        targetId: this.targetId,
        timeline: segment.timeline,
        file,
        path,
        receivedAt: info.mtime,
        route: 'stream',
      });
    } catch (error) {
      // Completed and renamed while it was being read: no failure, the next pass ships the whole segment.
      if (!existsSync(path)) return null;
      throw error;
    }
    this.partialMtime = { file: name, mtimeMs: info.mtimeMs };
    this.lastPartialShip = Date.now();
    this.shippedPartials.add(file);
    const base = { targetId: this.targetId, timeline: segment.timeline, file, receivedAt: info.mtime };
    return { ...shippedOf(base, 'partial', shipped), result: 'partial' };
  }
}

/** What the hooks learn of a shipped file (the receiver's route is always the stream). */
export function shippedOf(
  base: { targetId: string; timeline: Timeline; file: string; receivedAt: Date },
  kind: ShippedFile['kind'],
  committed: CommitResult,
  route: WalRoute = 'stream',
): Omit<ShippedFile, 'result'> {
  const { targetId, timeline, file, receivedAt } = base;
  const { rawBytes, compressedBytes } = committed;
  return { targetId, kind, timeline, file, rawBytes, compressedBytes, receivedAt, route };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
