import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { eventSchema, type TidemarkEvent } from './event';
import type { EventBus, EventHandler, FollowOptions, HistoryOptions, StoredEvent } from './event-bus';
import { errorData } from '@tidemark/redaction';
import { redisKey } from './redis-keys';

export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

export interface RedisStreamEventBusOptions {
  /** Default `<key root>:events` (`tidemark:events` without TIDEMARK_NAMESPACE). */
  stream?: string;
  /** Approximate cap on the stream length (XADD MAXLEN ~), default 100000. */
  maxLen?: number;
  /** How long an event stays pending (a failed handler, a crashed consumer) before it is redelivered; default 60 s. */
  claimIdleMs?: number;
  /** Told about failed handlers and skipped malformed entries. */
  logger?: WarnLogger;
}

type Entry = [id: string, fields: string[] | null];

const HISTORY_BATCH = 500;
const READ_COUNT = 50;
// The longest a blocking read waits before the loop checks for abort, close and stale pending entries.
const MAX_BLOCK_MS = 5000;
const RETRY_DELAY_MS = 1000;

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Events on a Redis Stream: entries `{ type, targetId, event }`, where `event` is the CloudEvent as JSON. */
export class RedisStreamEventBus implements EventBus {
  readonly stream: string;
  private readonly maxLen: number;
  private readonly claimIdleMs: number;
  private readonly logger: WarnLogger | undefined;
  private readonly redis: Redis;
  // Each follow/consume gets its own connection: a blocked XREAD holds its connection, and disconnecting it is the
  // only way to end the block at once when the caller aborts.
  private readonly blocking = new Set<Redis>();
  private closed = false;

  constructor(redisUrl: string, options: RedisStreamEventBusOptions = {}) {
    this.stream = options.stream ?? redisKey('events');
    this.maxLen = options.maxLen ?? 100_000;
    this.claimIdleMs = options.claimIdleMs ?? 60_000;
    this.logger = options.logger;
    // Few retries per command: a publish must fail soon rather than hold up a backup while Redis is away.
    this.redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
    // Failures surface as rejected commands; without a listener ioredis prints every reconnect error.
    this.redis.on('error', () => undefined);
  }

  async publish(event: TidemarkEvent): Promise<void> {
    this.assertOpen();
    await this.redis.xadd(
      this.stream,
      'MAXLEN',
      '~',
      this.maxLen,
      '*',
      'type',
      event.type,
      'targetId',
      event.data.targetId,
      'event',
      JSON.stringify(event),
    );
  }

  async history(options: HistoryOptions = {}): Promise<StoredEvent[]> {
    this.assertOpen();
    const limit = options.limit ?? 100;
    const found: StoredEvent[] = [];
    let end = '+';
    while (found.length < limit) {
      const batch = (await this.redis.xrevrange(this.stream, end, '-', 'COUNT', HISTORY_BATCH)) as Entry[];
      for (const [id, fields] of batch) {
        if (!fields) continue;
        if (options.targetId !== undefined && field(fields, 'targetId') !== options.targetId) continue;
        const event = this.parse(id, fields);
        if (!event) continue;
        if (options.backupId !== undefined && event.data.backupId !== options.backupId) continue;
        found.push({ id, event });
        if (found.length >= limit) break;
      }
      const last = batch.at(-1);
      if (!last || batch.length < HISTORY_BATCH) break;
      end = `(${last[0]}`;
    }
    return found.reverse();
  }

  async *follow(options: FollowOptions): AsyncIterable<StoredEvent> {
    const { signal } = options;
    if (signal.aborted) return;
    this.assertOpen();
    // '$' re-read after every timed-out block would drop what was published in between: pin the current last id.
    let last = options.from ?? '$';
    if (last === '$') {
      const newest = (await this.redis.xrevrange(this.stream, '+', '-', 'COUNT', 1)) as Entry[];
      last = newest[0]?.[0] ?? '0-0';
    }
    const conn = this.openBlocking(signal);
    try {
      while (!this.stopped(signal)) {
        let reply: [string, Entry[]][] | null;
        try {
          reply = await conn.xread('COUNT', READ_COUNT, 'BLOCK', MAX_BLOCK_MS, 'STREAMS', this.stream, last);
        } catch (error) {
          if (this.stopped(signal)) return;
          throw error;
        }
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            const event = fields ? this.parse(id, fields) : undefined;
            if (event) yield { id, event };
            if (this.stopped(signal)) return;
          }
        }
      }
    } finally {
      this.closeBlocking(conn);
    }
  }

  async consume(group: string, consumer: string, handler: EventHandler, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    this.assertOpen();
    const conn = this.openBlocking(signal);
    const blockMs = Math.max(10, Math.min(this.claimIdleMs, MAX_BLOCK_MS));
    let cursor = '0-0';
    let groupReady = false;
    try {
      while (!this.stopped(signal)) {
        try {
          if (!groupReady) {
            await this.ensureGroup(group);
            groupReady = true;
          }
          // Events left pending by a failed handler or a crashed consumer, once idle long enough.
          const [next, claimed] = (await this.redis.xautoclaim(
            this.stream,
            group,
            consumer,
            this.claimIdleMs,
            cursor,
            'COUNT',
            READ_COUNT,
          )) as [string, Entry[], ...unknown[]];
          cursor = next;
          for (const entry of claimed) {
            if (this.stopped(signal)) return;
            await this.deliver(group, entry, handler);
          }
          const reply = await conn.xreadgroup(
            'GROUP',
            group,
            consumer,
            'COUNT',
            READ_COUNT,
            'BLOCK',
            blockMs,
            'STREAMS',
            this.stream,
            '>',
          );
          for (const [, entries] of reply ?? []) {
            for (const entry of entries) {
              if (this.stopped(signal)) return;
              await this.deliver(group, entry, handler);
            }
          }
        } catch (error) {
          if (this.stopped(signal)) return;
          // NOGROUP: the stream (and with it the group) was deleted; anything else: Redis is away. Retry either way.
          if (error instanceof Error && error.message.startsWith('NOGROUP')) groupReady = false;
          this.logger?.warn({ group, error: errorData(error) }, 'event consumer read failed, retrying');
          await sleep(RETRY_DELAY_MS, undefined, { signal }).catch(() => undefined);
        }
      }
    } finally {
      this.closeBlocking(conn);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const conn of this.blocking) conn.disconnect();
    this.blocking.clear();
    if (this.redis.status === 'ready') {
      await this.redis.quit().catch(() => undefined);
    }
    this.redis.disconnect();
  }

  private async deliver(group: string, [id, fields]: Entry, handler: EventHandler): Promise<void> {
    const event = fields ? this.parse(id, fields) : undefined;
    if (event) {
      try {
        await handler(event);
      } catch (error) {
        // Left unacknowledged on purpose: XAUTOCLAIM hands it out again after claimIdleMs.
        this.logger?.warn(
          { group, eventId: event.id, type: event.type, error: errorData(error) },
          'event handler failed',
        );
        return;
      }
    }
    // Acknowledged after success, and also when the entry is deleted or malformed, which no retry would fix.
    await this.redis.xack(this.stream, group, id);
  }

  private async ensureGroup(group: string): Promise<void> {
    try {
      // '$': a new group starts with the events published from now on, not the whole retained history.
      await this.redis.xgroup('CREATE', this.stream, group, '$', 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
    }
  }

  private parse(id: string, fields: readonly string[]): TidemarkEvent | undefined {
    const raw = field(fields, 'event');
    let json: unknown;
    try {
      json = raw === undefined ? undefined : JSON.parse(raw);
    } catch {
      json = undefined;
    }
    const result = eventSchema.safeParse(json);
    if (result.success) return result.data;
    this.logger?.warn({ stream: this.stream, entryId: id }, 'skipping a malformed event entry');
    return undefined;
  }

  private openBlocking(signal: AbortSignal): Redis {
    // No retry limit: a blocking reader waits out a Redis restart instead of failing.
    const conn = this.redis.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
    conn.on('error', () => undefined);
    this.blocking.add(conn);
    signal.addEventListener(
      'abort',
      () => {
        conn.disconnect();
      },
      { once: true },
    );
    return conn;
  }

  private closeBlocking(conn: Redis): void {
    this.blocking.delete(conn);
    conn.disconnect();
  }

  // A method, not an inline test: both flags change while awaiting, which narrowing would not see.
  private stopped(signal: AbortSignal): boolean {
    return signal.aborted || this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event bus is closed');
  }
}
