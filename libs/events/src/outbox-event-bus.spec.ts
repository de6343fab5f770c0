import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { uniqueName, waitFor } from '@tidemark/testing';
import { Redis } from 'ioredis';
import { createEvent, type TidemarkEvent } from './event';
import type { EventBus, StoredEvent } from './event-bus';
import { OutboxEventBus } from './outbox-event-bus';
import type { WarnLogger } from './redis-stream-event-bus';

const REDIS_URL = 'redis://127.0.0.1:6379/5';

/** A bus that refuses everything while `down`, as Service Bus does through an outage. */
class FlakyBus implements EventBus {
  down = true;
  readonly received: TidemarkEvent[] = [];
  publish(event: TidemarkEvent): Promise<void> {
    if (this.down) return Promise.reject(new Error('bus unreachable'));
    this.received.push(event);
    return Promise.resolve();
  }
  history(): Promise<StoredEvent[]> {
    return Promise.resolve([]);
  }
  follow(): AsyncIterable<StoredEvent> {
    return {
      [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true, value: undefined }) }),
    };
  }
  consume(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const event = (n: number): TidemarkEvent =>
  createEvent({ type: 'tidemark.backup.requested', source: 'scheduler', targetId: `t-${n}` });

describe('OutboxEventBus: bounded through a long bus outage, empty once delivered (real Redis)', () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    await redis.quit();
  });

  test('holds what was not delivered up to its cap, drops the oldest beyond it, and shrinks to nothing after', async () => {
    const key = `tidemark:test:${uniqueName('outbox')}`;
    const inner = new FlakyBus();
    const warnings: string[] = [];
    const logger: WarnLogger = { warn: (_obj, msg) => warnings.push(msg) };
    const outbox = new OutboxEventBus(REDIS_URL, inner, {
      key,
      maxPending: 200,
      baseBackoffMs: 20,
      maxBackoffMs: 50,
      pollMs: 20,
      logger,
    });
    try {
      const published = Array.from({ length: 1000 }, (_, i) => event(i));
      for (const e of published) await outbox.publish(e);
      const pending = await outbox.pending();
      // MAXLEN ~ trims whole stream nodes (100 entries), so the outbox may hold up to one node more than its cap.
      assert.ok(pending >= 200 && pending <= 300, `outbox holds ${pending} of 1000 events (cap 200)`);
      const held = (await redis.memory('USAGE', key)) ?? 0;
      await waitFor(
        () =>
          Promise.resolve(warnings.includes('outbox full: the oldest undelivered events are being dropped')),
        {
          timeoutMs: 10_000,
          intervalMs: 20,
          what: 'the outbox-full warning',
        },
      );

      inner.down = false;
      await waitFor(async () => (await outbox.pending()) === 0, {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'the outbox to drain',
      });
      assert.deepEqual(
        inner.received.map((e) => e.id),
        published.slice(-pending).map((e) => e.id),
        'the newest events reach the bus, in order',
      );
      const drained = (await redis.memory('USAGE', key)) ?? 0;
      assert.ok(drained < held / 10, `the outbox shrank from ${held} to ${drained} bytes`);
    } finally {
      await outbox.close();
      await redis.del(key, `${key}:lease`);
    }
  });
});
