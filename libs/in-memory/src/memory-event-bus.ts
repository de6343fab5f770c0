import type {
  EventBus,
  EventHandler,
  FollowOptions,
  HistoryOptions,
  StoredEvent,
  TidemarkEvent,
} from '@tidemark/events';

/**
 * An {@link EventBus} in an array: `history` filters as the Redis Stream does, `follow` and `consume` deliver
 * what is published while they run. `failNext` makes publishing fail (the bus is away).
 */
export class MemoryEventBus implements EventBus {
  private readonly stored: StoredEvent[] = [];
  private readonly listeners = new Set<(stored: StoredEvent) => void>();
  private failures = 0;

  /** Every event published, in order. */
  get events(): TidemarkEvent[] {
    return this.stored.map((s) => s.event);
  }

  /** The types of the events of one backup, in order. */
  typesOf(backupId: string): string[] {
    return this.events.filter((e) => e.data.backupId === backupId).map((e) => e.type);
  }

  failNext(times = 1): void {
    this.failures += times;
  }

  publish(event: TidemarkEvent): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      return Promise.reject(new Error('memory event bus: unavailable'));
    }
    const stored = { id: `${this.stored.length + 1}-0`, event };
    this.stored.push(stored);
    for (const listener of this.listeners) listener(stored);
    return Promise.resolve();
  }

  async publishBatch(events: readonly TidemarkEvent[]): Promise<void> {
    for (const event of events) await this.publish(event);
  }

  history(options: HistoryOptions = {}): Promise<StoredEvent[]> {
    const matching = this.stored.filter(
      (s) =>
        (options.targetId === undefined || s.event.data.targetId === options.targetId) &&
        (options.backupId === undefined || s.event.data.backupId === options.backupId),
    );
    return Promise.resolve(matching.slice(-(options.limit ?? 100)));
  }

  async *follow(options: FollowOptions): AsyncIterable<StoredEvent> {
    const start =
      options.from === undefined || options.from === '$'
        ? this.stored.length
        : Number.parseInt(options.from, 10);
    const backlog = this.stored.slice(start);
    const queue: StoredEvent[] = [...backlog];
    let wake: (() => void) | undefined;
    const listener = (stored: StoredEvent): void => {
      queue.push(stored);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.listeners.add(listener);
    options.signal.addEventListener('abort', onAbort);
    try {
      while (!options.signal.aborted) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      this.listeners.delete(listener);
      options.signal.removeEventListener('abort', onAbort);
    }
  }

  async consume(
    _group: string,
    _consumer: string,
    handler: EventHandler,
    signal: AbortSignal,
  ): Promise<void> {
    for await (const stored of this.follow({ signal })) await handler(stored.event);
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}
