import { errorData, type EventDetails, type EventPublisher } from '@tidemark/events';
import type { TidemarkMetrics } from '@tidemark/observability';
import type { ShippedFile } from './wal-receiver';

export interface WalTelemetryOptions {
  metrics: TidemarkMetrics;
  events: Pick<EventPublisher, 'emit'>;
  /** Each target's tier, the `tier` label of the archive's bytes. */
  tierOf(targetId: string): string;
  /** One `tidemark.wal.archived` per target at most this often (default 10 s)... */
  batchMs?: number;
  /** ...or as soon as this many files are waiting (default 64). */
  batchFiles?: number;
}

interface Batch {
  files: [ShippedFile, ...ShippedFile[]];
  timer: NodeJS.Timeout;
}

/**
 * Turns what the receivers and spool watchers ship into metrics at once and into `tidemark.wal.archived` events in
 * batches (a segment every few seconds would otherwise flood the bus), and each failure into
 * `tidemark.wal.archive_failed`: at the first attempt and then at every power of two, so an outage of hours is a
 * dozen events, not thousands.
 */
export class WalTelemetry {
  private readonly batches = new Map<string, Batch>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Per target, the receive time of the newest WAL shipped (seconds), as the gauge shows it. */
  private readonly newest = new Map<string, number>();

  constructor(private readonly options: WalTelemetryOptions) {}

  shipped(files: readonly ShippedFile[]): void {
    for (const file of files) {
      this.count(file);
      const batch = this.batches.get(file.targetId);
      // One event holds one timeline and one route: a switch closes the batch before it.
      const first = batch?.files[0];
      if (first && (first.timeline !== file.timeline || first.route !== file.route))
        this.flush(file.targetId);
      this.add(file);
    }
  }

  failed(targetId: string, file: string, attempts: number, error: unknown): void {
    const { metrics } = this.options;
    metrics.walSegmentsTotal.inc({ target: targetId, result: 'failed' });
    if ((attempts & (attempts - 1)) !== 0) return;
    // errorData takes the first line and redacts it: a url with a password never reaches the event.
    const details = { file, attempts, error: errorData(error) };
    this.track(this.options.events.emit('tidemark.wal.archive_failed', targetId, undefined, details));
  }

  /** Publishes every waiting batch (on shutdown) and waits for the events in flight. */
  async close(): Promise<void> {
    for (const targetId of [...this.batches.keys()]) this.flush(targetId);
    await Promise.all([...this.pending]);
  }

  private count(file: ShippedFile): void {
    const { metrics } = this.options;
    const target = file.targetId;
    metrics.walSegmentsTotal.inc({ target, result: file.result });
    if (file.result === 'archived' && file.kind !== 'partial')
      metrics.walArchiveBytes.inc({ target, tier: this.options.tierOf(target) }, file.compressedBytes);
    if (file.kind !== 'history') {
      const seconds = file.receivedAt.getTime() / 1000;
      // Files of one pass may finish out of order (a partial after its segment): the gauge never goes back.
      if (seconds > (this.newest.get(target) ?? 0)) {
        this.newest.set(target, seconds);
        metrics.walLastArchivedTimestamp.set({ target }, seconds);
      }
    }
  }

  private add(file: ShippedFile): void {
    const waiting = this.batches.get(file.targetId);
    if (waiting) waiting.files.push(file);
    const batch = waiting ?? { files: [file], timer: this.flushLater(file.targetId) };
    this.batches.set(file.targetId, batch);
    if (batch.files.length >= (this.options.batchFiles ?? 64)) this.flush(file.targetId);
  }

  private flushLater(targetId: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.flush(targetId);
    }, this.options.batchMs ?? 10_000);
    timer.unref();
    return timer;
  }

  private flush(targetId: string): void {
    const batch = this.batches.get(targetId);
    if (!batch) return;
    clearTimeout(batch.timer);
    this.batches.delete(targetId);
    this.track(
      this.options.events.emit('tidemark.wal.archived', targetId, undefined, archivedEvent(batch.files)),
    );
  }

  private track(emitted: Promise<unknown>): void {
    this.pending.add(emitted);
    void emitted.finally(() => this.pending.delete(emitted));
  }
}

/** A batch is never empty: `last` is its newest WAL file, or its history file when it holds only that. */
function archivedEvent(
  files: readonly [ShippedFile, ...ShippedFile[]],
): EventDetails<'tidemark.wal.archived'> {
  const wal = files.filter((file) => file.kind !== 'history');
  const last = wal.at(-1) ?? files[files.length - 1] ?? files[0];
  const of = (kind: ShippedFile['kind']) => files.filter((file) => file.kind === kind).length;
  return {
    timeline: last.timeline,
    segments: of('segment'),
    partials: of('partial'),
    histories: of('history'),
    sizes: {
      raw: files.reduce((sum, file) => sum + file.rawBytes, 0),
      compressed: files.reduce((sum, file) => sum + file.compressedBytes, 0),
    },
    last: { file: last.file, receivedAt: last.receivedAt.toISOString() },
    route: last.route,
  };
}
