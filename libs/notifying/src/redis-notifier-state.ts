import { setTimeout as sleep } from 'node:timers/promises';
import { RedisLock } from '@tidemark/queues';
import type { Redis } from 'ioredis';
import {
  stateField,
  type ClaimResult,
  type ConditionStore,
  type DeliveryClaims,
  type DigestEntry,
  type DigestStore,
} from './notifier-state';
import type { ConditionState } from './plan';

/** How long a claim on (event, channel) lives: longer than a delivery with all its retries takes. */
export const CLAIM_TTL_MS = 5 * 60_000;
/** How long "delivered" is remembered: longer than any redelivery of the event comes. */
export const DONE_TTL_MS = 7 * 86_400_000;
const CONDITION_LOCK_TTL_MS = 15_000;
const LOCK_WAIT_MS = 30_000;

const DELETE_IF_OWNER = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Conditions per target in one hash, `<root>:notifier:conditions:<target>` (field `<channel>\0<key>`, value the
 * state's JSON), changed under the lock `<root>:lock:notifier-conditions:<target>`: two replicas handling two
 * failures of one target at once raise the condition once.
 */
export class RedisConditionStore implements ConditionStore {
  private readonly lock: RedisLock;

  constructor(
    private readonly redis: Redis,
    private readonly keyRoot: string,
    private readonly owner: string,
  ) {
    this.lock = new RedisLock(redis, 'notifier-conditions', CONDITION_LOCK_TTL_MS, keyRoot);
  }

  private key(targetId: string): string {
    return `${this.keyRoot}:notifier:conditions:${targetId}`;
  }

  async change<T>(
    targetId: string,
    fn: (states: ConditionState[]) => { result: T; write: ConditionState[]; forget: ConditionState[] },
  ): Promise<T> {
    await this.acquire(targetId);
    try {
      const fields = await this.redis.hgetall(this.key(targetId));
      const states = Object.values(fields).flatMap((json) => parseState(json));
      const { result, write, forget } = fn(states);
      const multi = this.redis.multi();
      if (forget.length > 0) multi.hdel(this.key(targetId), ...forget.map(stateField));
      for (const state of write) multi.hset(this.key(targetId), stateField(state), JSON.stringify(state));
      await multi.exec();
      return result;
    } finally {
      await this.lock.release(targetId, this.owner);
    }
  }

  private async acquire(targetId: string): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await this.lock.acquire(targetId, this.owner)) !== this.owner) {
      // Held for one event's bookkeeping (milliseconds); giving up makes the event come again.
      if (Date.now() > deadline) throw new Error(`conditions of ${targetId}: lock held for over 30 s`);
      await sleep(20);
    }
  }
}

function parseState(json: string): ConditionState[] {
  try {
    return [JSON.parse(json) as ConditionState];
  } catch {
    return [];
  }
}

/** `<root>:notifier:delivery:<id>:<channel>`: SET NX with a TTL while delivering, `done` once delivered. */
export class RedisDeliveryClaims implements DeliveryClaims {
  constructor(
    private readonly redis: Redis,
    private readonly keyRoot: string,
  ) {}

  private key(id: string, channel: string): string {
    return `${this.keyRoot}:notifier:delivery:${id}:${channel}`;
  }

  async claim(id: string, channel: string, owner: string): Promise<ClaimResult> {
    const key = this.key(id, channel);
    if ((await this.redis.set(key, owner, 'PX', CLAIM_TTL_MS, 'NX')) === 'OK') return 'claimed';
    const holder = await this.redis.get(key);
    if (holder === DONE) return 'done';
    return holder === owner ? 'claimed' : 'busy';
  }

  async done(id: string, channel: string): Promise<void> {
    await this.redis.set(this.key(id, channel), DONE, 'PX', DONE_TTL_MS);
  }

  async release(id: string, channel: string, owner: string): Promise<void> {
    await this.redis.eval(DELETE_IF_OWNER, 1, this.key(id, channel), owner);
  }
}

const DONE = 'done';

/**
 * A digest route's events in a hash keyed by event id (a redelivered event is one entry),
 * `<root>:notifier:digest:<route>`; a run renames it to `…:<route>:run:<runId>` first, so what arrives while it
 * sends waits for the next digest, and a retried run finds its own entries.
 */
export class RedisDigestStore implements DigestStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyRoot: string,
  ) {}

  private key(route: number): string {
    return `${this.keyRoot}:notifier:digest:${route}`;
  }

  private runKey(route: number, runId: string): string {
    return `${this.key(route)}:run:${runId}`;
  }

  async add(route: number, entry: DigestEntry): Promise<void> {
    await this.redis.hset(this.key(route), entry.eventId, JSON.stringify(entry));
  }

  async take(route: number, runId: string): Promise<DigestEntry[]> {
    const runKey = this.runKey(route, runId);
    if ((await this.redis.exists(runKey)) === 0) {
      // RENAMENX fails when the run key exists (a retried run) and errors when there is nothing to take.
      await this.redis.renamenx(this.key(route), runKey).catch(() => 0);
      await this.redis.pexpire(runKey, DONE_TTL_MS);
    }
    const fields = await this.redis.hgetall(runKey);
    return Object.values(fields)
      .flatMap((json) => {
        try {
          return [JSON.parse(json) as DigestEntry];
        } catch {
          return [];
        }
      })
      .sort((a, b) => a.time.localeCompare(b.time));
  }

  async finish(route: number, runId: string): Promise<void> {
    await this.redis.del(this.runKey(route, runId));
  }
}
