import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createEvent, type TidemarkEvent } from './event';
import type { EventType } from './event-types';
import type { StoredEvent } from './event-bus';
import { RedisStreamEventBus } from './redis-stream-event-bus';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

function event(type: EventType, targetId: string, backupId?: string): TidemarkEvent {
  return createEvent({ type, source: 'test', targetId, backupId });
}

async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('RedisStreamEventBus', () => {
  let redis: Redis;
  const streams: string[] = [];
  const buses: RedisStreamEventBus[] = [];

  function newBus(options: { claimIdleMs?: number } = {}): RedisStreamEventBus {
    const stream = `test:events:${randomUUID()}`;
    streams.push(stream);
    const bus = new RedisStreamEventBus(REDIS_URL, { stream, maxLen: 1000, ...options });
    buses.push(bus);
    return bus;
  }

  before(() => {
    redis = new Redis(REDIS_URL);
  });

  after(async () => {
    for (const bus of buses) await bus.close();
    if (streams.length > 0) await redis.del(...streams);
    await redis.quit();
  });

  test('publish stores the entry fields and history filters by target and backup, oldest first', async () => {
    const bus = newBus();
    const published = [
      event('tidemark.backup.requested', 'orders-db', '20261121T020000Z-aaaaaa'),
      event('tidemark.backup.requested', 'users-db', '20261121T020000Z-bbbbbb'),
      event('tidemark.backup.dumped', 'orders-db', '20261121T020000Z-aaaaaa'),
      event('tidemark.backup.overdue', 'orders-db'),
      event('tidemark.backup.requested', 'orders-db', '20261122T020000Z-cccccc'),
    ];
    for (const e of published) await bus.publish(e);

    const [raw] = await redis.xrange(bus.stream, '-', '+', 'COUNT', 1);
    assert.ok(raw);
    assert.deepEqual(raw[1], [
      'type',
      'tidemark.backup.requested',
      'targetId',
      'orders-db',
      'event',
      JSON.stringify(published[0]),
    ]);

    const ids = (stored: StoredEvent[]) => stored.map((s) => s.event.id);
    assert.deepEqual(ids(await bus.history()), ids(published.map((e, i) => ({ id: String(i), event: e }))));
    assert.deepEqual(
      ids(await bus.history({ targetId: 'orders-db' })),
      [0, 2, 3, 4].map((i) => published[i]!.id),
    );
    assert.deepEqual(
      ids(await bus.history({ targetId: 'orders-db', backupId: '20261121T020000Z-aaaaaa' })),
      [0, 2].map((i) => published[i]!.id),
    );
    assert.deepEqual(ids(await bus.history({ backupId: '20261121T020000Z-bbbbbb' })), [published[1]!.id]);
    assert.deepEqual(
      ids(await bus.history({ targetId: 'orders-db', limit: 2 })),
      [3, 4].map((i) => published[i]!.id),
    );
    assert.deepEqual(await bus.history({ targetId: 'nobody' }), []);
    const stored = await bus.history({ limit: 1 });
    assert.deepEqual(stored[0]?.event, published[4]);
  });

  test('history pages through more entries than one batch', async () => {
    const bus = newBus();
    const pipeline = redis.pipeline();
    const wanted = event('tidemark.backup.verified', 'rare-db', '20261121T020000Z-zzzzzz');
    pipeline.xadd(
      bus.stream,
      '*',
      'type',
      wanted.type,
      'targetId',
      'rare-db',
      'event',
      JSON.stringify(wanted),
    );
    for (let i = 0; i < 1200; i += 1) {
      const e = event('tidemark.backup.requested', 'busy-db');
      pipeline.xadd(bus.stream, '*', 'type', e.type, 'targetId', 'busy-db', 'event', JSON.stringify(e));
    }
    await pipeline.exec();
    const found = await bus.history({ targetId: 'rare-db' });
    assert.deepEqual(
      found.map((s) => s.event.id),
      [wanted.id],
    );
    assert.equal((await bus.history({ limit: 1100 })).length, 1100);
  });

  test('history skips malformed entries', async () => {
    const bus = newBus();
    await redis.xadd(bus.stream, '*', 'type', 'x', 'targetId', 't', 'event', '{not json');
    await redis.xadd(
      bus.stream,
      '*',
      'type',
      'x',
      'targetId',
      't',
      'event',
      JSON.stringify({ hello: 'world' }),
    );
    const good = event('tidemark.backup.failed', 't');
    await bus.publish(good);
    assert.deepEqual(
      (await bus.history()).map((s) => s.event.id),
      [good.id],
    );
  });

  test('follow yields only new events, in order, and stops on abort', async () => {
    const bus = newBus();
    await bus.publish(event('tidemark.backup.requested', 'old-db'));
    const controller = new AbortController();
    const received: StoredEvent[] = [];
    const following = (async () => {
      for await (const stored of bus.follow({ signal: controller.signal })) received.push(stored);
    })();
    // Give follow time to pin its starting point, then publish while it is blocked.
    await sleep(200);
    const fresh = [
      event('tidemark.backup.requested', 'orders-db', '20261121T020000Z-aaaaaa'),
      event('tidemark.backup.dumped', 'orders-db', '20261121T020000Z-aaaaaa'),
      event('tidemark.backup.uploaded', 'orders-db', '20261121T020000Z-aaaaaa'),
    ];
    for (const e of fresh) await bus.publish(e);
    await until(() => received.length >= 3, 'three followed events');
    const started = Date.now();
    controller.abort();
    await following;
    assert.ok(Date.now() - started < 1000, 'abort ends a blocked read at once');
    assert.deepEqual(
      received.map((s) => s.event),
      fresh,
    );
    const ids = received.map((s) => s.id);
    assert.deepEqual([...ids].sort(), ids);

    // Nothing published after the abort reaches the stopped follower.
    await bus.publish(event('tidemark.backup.verified', 'orders-db'));
    await sleep(50);
    assert.equal(received.length, 3);
  });

  test('follow from a stream id replays what came after it', async () => {
    const bus = newBus();
    const first = event('tidemark.backup.requested', 't');
    const second = event('tidemark.backup.dumped', 't');
    await bus.publish(first);
    await bus.publish(second);
    const [stored] = await bus.history({ limit: 2 });
    assert.ok(stored);
    const controller = new AbortController();
    const received: TidemarkEvent[] = [];
    for await (const s of bus.follow({ from: stored.id, signal: controller.signal })) {
      received.push(s.event);
      controller.abort();
    }
    assert.deepEqual(received, [second]);
  });

  async function groupExists(stream: string, group: string): Promise<boolean> {
    try {
      const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
      return groups.some((g) => g.includes(group));
    } catch {
      return false;
    }
  }

  async function pendingCount(stream: string, group: string): Promise<number> {
    const summary = (await redis.xpending(stream, group)) as [number, ...unknown[]];
    return summary[0];
  }

  test('consume delivers each new event to the handler and acknowledges it', async () => {
    const bus = newBus();
    const controller = new AbortController();
    const handled: TidemarkEvent[] = [];
    const consuming = bus.consume(
      'retention',
      'retention-1',
      async (e) => {
        await sleep(1);
        handled.push(e);
      },
      controller.signal,
    );
    await until(() => groupExists(bus.stream, 'retention'), 'the consumer group');
    const published = [event('tidemark.backup.verified', 'a'), event('tidemark.backup.verified', 'b')];
    for (const e of published) await bus.publish(e);
    await until(() => handled.length === 2, 'two handled events');
    await until(async () => (await pendingCount(bus.stream, 'retention')) === 0, 'no pending entries');
    controller.abort();
    await consuming;
    assert.deepEqual(handled, published);
  });

  test('a handler that throws gets the event again', async () => {
    const bus = newBus({ claimIdleMs: 100 });
    const controller = new AbortController();
    const attempts: string[] = [];
    const consuming = bus.consume(
      'notifier',
      'notifier-1',
      (e) => {
        attempts.push(e.id);
        return attempts.length === 1 ? Promise.reject(new Error('webhook down')) : Promise.resolve();
      },
      controller.signal,
    );
    await until(() => groupExists(bus.stream, 'notifier'), 'the consumer group');
    const failing = event('tidemark.backup.corrupt', 'orders-db', '20261121T020000Z-aaaaaa');
    await bus.publish(failing);
    await until(() => attempts.length >= 2, 'a redelivery');
    await until(async () => (await pendingCount(bus.stream, 'notifier')) === 0, 'the ack after the retry');
    controller.abort();
    await consuming;
    assert.deepEqual(attempts, [failing.id, failing.id]);
  });

  test('two consumers of one group share the events; another group gets them all', async () => {
    const bus = newBus();
    const controller = new AbortController();
    const byConsumer = new Map<string, string[]>();
    const record = (name: string) => (e: TidemarkEvent) => {
      byConsumer.set(name, [...(byConsumer.get(name) ?? []), e.id]);
      return Promise.resolve();
    };
    const runs = [
      bus.consume('g1', 'c1', record('g1/c1'), controller.signal),
      bus.consume('g1', 'c2', record('g1/c2'), controller.signal),
      bus.consume('g2', 'c1', record('g2/c1'), controller.signal),
    ];
    await until(
      async () => (await groupExists(bus.stream, 'g1')) && (await groupExists(bus.stream, 'g2')),
      'both groups',
    );
    const published = Array.from({ length: 10 }, () => event('tidemark.backup.dumped', 't'));
    for (const e of published) await bus.publish(e);
    const g1 = () => [...(byConsumer.get('g1/c1') ?? []), ...(byConsumer.get('g1/c2') ?? [])];
    await until(() => g1().length === 10 && (byConsumer.get('g2/c1') ?? []).length === 10, 'all deliveries');
    controller.abort();
    await Promise.all(runs);
    assert.deepEqual(new Set(g1()), new Set(published.map((e) => e.id)));
    assert.equal(g1().length, 10, 'each event once per group');
  });

  test('close ends followers and consumers, and rejects later publishes', async () => {
    const bus = newBus();
    const controller = new AbortController();
    const following = (async () => {
      const seen: StoredEvent[] = [];
      for await (const s of bus.follow({ signal: controller.signal })) seen.push(s);
      return seen;
    })();
    const consuming = bus.consume('g', 'c', () => Promise.resolve(), controller.signal);
    await until(() => groupExists(bus.stream, 'g'), 'the consumer group');
    await bus.close();
    assert.deepEqual(await following, []);
    await consuming;
    await assert.rejects(bus.publish(event('tidemark.backup.requested', 't')), /closed/);
  });
});
