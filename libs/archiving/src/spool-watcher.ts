import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkSegmentBytes, parseHistoryFileName, parseSegmentFileName, type Timeline } from '@tidemark/wal';
import { ArchivingError } from './connection';
import { shippedOf, type ShippedFile, type WalReceiverHooks } from './wal-receiver';
import type { WalSink } from './wal-sink';

/** Name checks only: the smallest segment size allows every segment number a larger one does. */
const SMALLEST_SEGMENT = 1 << 20;
/** `<segment>.<offset>.backup`: the server's note of a base backup; recovery never reads it. */
const BACKUP_LABEL = /^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/;

export interface SpoolWatcherOptions extends WalReceiverHooks {
  targetId: string;
  /** The directory the server's archive_command copies into (pitr.spool). */
  spool: string;
  sink: Pick<WalSink, 'commitSegment' | 'commitHistory'>;
  pollMs?: number;
  /** First retry delay after a failed upload; doubles up to 30 s. */
  retryBaseMs?: number;
}

interface Retry {
  attempts: number;
  notBefore: number;
}

/**
 * The classic route (`pitr.route: archive-command`) for servers that allow no replication slot: the server's
 * archive_command only copies each finished file into the spool (tmp + mv, so a file there is whole), and this
 * watcher commits history files first, then segments in order, and deletes each from the spool only once it is in
 * Blob Storage. A failed commit keeps the file and everything after it for a later pass.
 */
export class SpoolWatcher {
  readonly targetId: string;
  private timer: NodeJS.Timeout | undefined;
  private passing: Promise<void> = Promise.resolve();
  private readonly retries = new Map<string, Retry>();

  constructor(private readonly options: SpoolWatcherOptions) {
    this.targetId = options.targetId;
  }

  async start(): Promise<void> {
    const info = await stat(this.options.spool).catch(() => null);
    if (!info?.isDirectory())
      throw new ArchivingError(`the spool directory ${this.options.spool} (pitr.spool) does not exist`);
    this.log(`watching the spool ${this.options.spool}`);
    this.timer = setInterval(() => {
      this.passing = this.passing
        .then(() => this.pass())
        .catch((err: unknown) => {
          this.log(describe(err));
        });
    }, this.options.pollMs ?? 500);
  }

  /** Stops watching; with `ship`, one last pass commits what the server has copied so far. */
  async stop(options: { ship: boolean } = { ship: true }): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.passing;
    if (options.ship) await this.pass();
  }

  /** One look at the spool: history files, then (once they are all in) complete segments in name order. */
  async pass(): Promise<void> {
    const names = (await readdir(this.options.spool)).filter((name) => !name.startsWith('.')).sort();
    const batch: ShippedFile[] = [];
    let complete = true;
    for (const name of names.filter((n) => parseHistoryFileName(n) !== null)) {
      complete = await this.ship(name, batch, (path) => this.commitHistory(name, path));
      if (!complete) break;
    }
    // A new timeline's segments wait for its history file: recovery cannot follow them without it.
    for (const name of complete ? names : []) {
      if (BACKUP_LABEL.test(name)) await rm(join(this.options.spool, name), { force: true });
      if (parseHistoryFileName(name) !== null || !parseSegmentFileName(name, SMALLEST_SEGMENT)) continue;
      if (!(await this.ship(name, batch, (path) => this.commitSegment(name, path)))) break;
    }
    if (batch.length) this.options.onShipped?.(batch);
  }

  private async ship(
    name: string,
    batch: ShippedFile[],
    commit: (path: string) => Promise<ShippedFile>,
  ): Promise<boolean> {
    const retry = this.retries.get(name);
    if (retry && Date.now() < retry.notBefore) return false;
    const path = join(this.options.spool, name);
    try {
      batch.push(await commit(path));
      await rm(path);
      this.retries.delete(name);
      return true;
    } catch (err) {
      const attempts = (retry?.attempts ?? 0) + 1;
      const delay = Math.min((this.options.retryBaseMs ?? 1000) * 2 ** (attempts - 1), 30_000);
      this.retries.set(name, { attempts, notBefore: Date.now() + delay });
      this.log(`shipping ${name} from the spool failed (attempt ${String(attempts)}): ${describe(err)}`);
      this.options.onFailure?.(name, attempts, err, this.targetId);
      return false;
    }
  }

  private async commitSegment(name: string, path: string): Promise<ShippedFile> {
    const info = await stat(path);
    // The file's own size is the server's wal_segment_size: the spool route needs no connection to the server.
    const segmentBytes = checkSegmentBytes(info.size);
    const segment = parseSegmentFileName(name, segmentBytes);
    if (!segment)
      throw new ArchivingError(`${name} is not a segment name for ${String(segmentBytes)}-byte segments`);
    const base = { targetId: this.targetId, timeline: segment.timeline, file: name, receivedAt: info.mtime };
    const committed = await this.options.sink.commitSegment({ ...base, path, route: 'spool' });
    return { ...shippedOf(base, 'segment', committed, 'spool'), result: committed.result };
  }

  private async commitHistory(name: string, path: string): Promise<ShippedFile> {
    const timeline: Timeline = parseHistoryFileName(name) ?? 0;
    const receivedAt = (await stat(path)).mtime;
    const base = { targetId: this.targetId, timeline, file: name, receivedAt };
    const committed = await this.options.sink.commitHistory({ ...base, path, route: 'spool' });
    return { ...shippedOf(base, 'history', committed, 'spool'), result: committed.result };
  }

  private log(line: string): void {
    this.options.log?.(`[archiver ${this.targetId}] ${line}`);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
