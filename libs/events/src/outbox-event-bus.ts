import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { eventSchema, type TidemarkEvent } from './event';
import type { EventBus, EventHandler, FollowOptions, HistoryOptions, StoredEvent } from './event-bus';
import { errorData } from '@tidemark/redaction';
import { redisKey } from './redis-keys';
import type { WarnLogger } from './redis-stream-event-bus';

export interface OutboxEventBusOptions {
  /** The outbox stream; one per bus. Default `<key root>:outbox` (`tidemark:outbox` without a namespace). */
  key?: string;
  /** Run the forwarder in this process (default true; a CLI that only reads passes false). */
  forward?: boolean;
  /** How long a forwarder holds the outbox without renewing; another replica takes over after it. Default 15 s. */
  leaseMs?: number;
  /** First retry delay after the bus refused; doubles up to `maxBackoffMs`. Defaults 500 ms and 30 s. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** How often an idle forwarder looks for events written by other replicas; default 500 ms. */
  pollMs?: number;
  /** Events forwarded per send; default 100. */
  batchSize?: number;
  /**
   * The most events the outbox holds (XADD MAXLEN ~, so a little more): through a bus outage longer than this many
   * events, the oldest undelivered are dropped (and a warning says so) rather than filling Redis, whose
   * noeviction policy would then refuse every write, jobs included. Default 100000 (TIDEMARK_OUTBOX_MAX_EVENTS).
   */
  maxPending?: number;
  logger?: WarnLogger;
}

type Entry = [id: string, fields: string[] | null];

// Renews the lease only for its holder, so a forwarder that stalled past its lease cannot steal it back.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

/**
 * Publishing that never blocks on the bus: `publish` appends the event to a Redis stream (the outbox) and returns;
 * a background forwarder sends the outbox, oldest first, to the inner bus and deletes entries only once the bus
 * accepted them, retrying with exponential backoff while the bus is away.
 *
 * Replicas share the outbox: the forwarder holding the lease (a Redis key with an expiry, renewed before every send)
 * is the only one sending, so events leave in the order they were written and a target's later event never
 * overtakes its earlier one. A forwarder that dies mid-send leaves its entries for the next lease holder, which
 * sends them again: the message id is the event id, so the topic's duplicate detection drops the copies.
 * Reading (`history`, `follow`, `consume`) goes straight to the inner bus.
 */
export class OutboxEventBus implements EventBus {
  readonly key: string;
  private readonly leaseKey: string;
  private readonly owner = randomUUID();
  private readonly leaseMs: number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly maxPending: number;
  private readonly logger: WarnLogger | undefined;
  private readonly redis: Redis;
  private readonly stop = new AbortController();
  private wake: (() => void) | undefined;
  private forwarding: Promise<void> | undefined;
  private closed = false;

  constructor(
    redisUrl: string,
    readonly inner: EventBus,
    options: OutboxEventBusOptions = {},
  ) {
    this.key = options.key ?? redisKey('outbox');
    this.leaseKey = `${this.key}:lease`;
    this.leaseMs = options.leaseMs ?? 15_000;
    this.baseBackoffMs = options.baseBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.pollMs = options.pollMs ?? 500;
    this.batchSize = options.batchSize ?? 100;
    this.maxPending = options.maxPending ?? 100_000;
    this.logger = options.logger;
    // Few retries per command: an append must fail soon rather than hold up a backup while Redis is away.
    this.redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
    this.redis.on('error', () => undefined);
    if (options.forward ?? true) this.forwarding = this.forward();
  }

  /** Durable once this resolves: the event is in Redis, and will reach the bus when it is reachable. */
  async publish(event: TidemarkEvent): Promise<void> {
    if (this.closed) throw new Error('event bus is closed');
    await this.redis.xadd(
      this.key,
      'MAXLEN',
      '~',
      this.maxPending,
      '*',
      'targetId',
      event.data.targetId,
      'event',
      JSON.stringify(event),
    );
    this.wake?.();
  }

  /** Events written but not yet accepted by the bus. */
  async pending(): Promise<number> {
    return this.redis.xlen(this.key);
  }

  history(options?: HistoryOptions): Promise<StoredEvent[]> {
    return this.inner.history(options);
  }

  follow(options: FollowOptions): AsyncIterable<StoredEvent> {
    return this.inner.follow(options);
  }

  consume(group: string, consumer: string, handler: EventHandler, signal: AbortSignal): Promise<void> {
    return this.inner.consume(group, consumer, handler, signal);
  }

  /** Stops forwarding (what is left stays in the outbox for the next forwarder) and closes the inner bus. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    await this.forwarding;
    await this.redis
      .eval(
        `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
        1,
        this.leaseKey,
        this.owner,
      )
      .catch(() => undefined);
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
    await this.inner.close();
  }

  private async forward(): Promise<void> {
    const signal = this.stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      let delay = this.pollMs;
      try {
        if (await this.holdLease()) {
          const sent = await this.forwardBatch();
          failures = 0;
          // A full batch: there is probably more, go on at once.
          if (sent >= this.batchSize) continue;
        }
      } catch (error) {
        failures += 1;
        delay = Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** (failures - 1));
        // Jitter, so replicas and restarts do not retry in lockstep.
        delay = Math.round(delay * (0.75 + Math.random() * 0.5));
        // Warn on the first failure and then on every tenth: an outage must not flood the log.
        if (failures === 1 || failures % 10 === 0) {
          this.logger?.warn(
            { outbox: this.key, failures, retryInMs: delay, error: errorData(error) },
            'forwarding events failed, retrying',
          );
          await this.warnIfFull();
        }
      }
      // While backing off, new events wait too: each one must not become another attempt against a bus that is down.
      await this.pause(delay, signal, failures === 0);
    }
  }

  private async warnIfFull(): Promise<void> {
    const pending = await this.redis.xlen(this.key).catch(() => 0);
    if (pending >= this.maxPending)
      this.logger?.warn(
        { outbox: this.key, pending, maxPending: this.maxPending },
        'outbox full: the oldest undelivered events are being dropped',
      );
  }

  /** Takes the lease when free, renews it when ours. */
  private async holdLease(): Promise<boolean> {
    const taken = await this.redis.set(this.leaseKey, this.owner, 'PX', this.leaseMs, 'NX');
    if (taken === 'OK') return true;
    return (await this.redis.eval(RENEW, 1, this.leaseKey, this.owner, this.leaseMs)) === 1;
  }

  private async forwardBatch(): Promise<number> {
    const entries = (await this.redis.xrange(this.key, '-', '+', 'COUNT', this.batchSize)) as Entry[];
    if (entries.length === 0) return 0;
    const events: TidemarkEvent[] = [];
    const unreadable: string[] = [];
    for (const [id, fields] of entries) {
      const event = parse(fields);
      if (event) events.push(event);
      else unreadable.push(id);
    }
    if (unreadable.length > 0) {
      // Only a foreign writer could put these here; they would block the outbox forever.
      this.logger?.warn({ outbox: this.key, entries: unreadable }, 'dropping unreadable outbox entries');
    }
    if (events.length > 0) {
      if (this.inner.publishBatch) await this.inner.publishBatch(events);
      else for (const event of events) await this.inner.publish(event);
    }
    // Delivered: out of the outbox. Deleting every entry of a stream node frees the node, so the outbox shrinks
    // back to nothing once the bus has everything.
    await this.redis.xdel(this.key, ...entries.map(([id]) => id));
    return entries.length;
  }

  private async pause(ms: number, signal: AbortSignal, wakeable: boolean): Promise<void> {
    const woken = new Promise<void>((resolve) => {
      if (wakeable) this.wake = resolve;
    });
    await Promise.race([sleep(ms, undefined, { signal }).catch(() => undefined), woken]);
    this.wake = undefined;
  }
}

function parse(fields: readonly string[] | null): TidemarkEvent | undefined {
  const index = fields?.indexOf('event') ?? -1;
  const raw = index >= 0 && index % 2 === 0 ? fields?.[index + 1] : undefined;
  if (raw === undefined) return undefined;
  try {
    const parsed = eventSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
