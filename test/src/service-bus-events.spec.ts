import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceBusClient } from '@azure/service-bus';
import {
  CLOUDEVENTS_CONTENT_TYPE,
  EventPublisher,
  OutboxEventBus,
  ServiceBusEventBus,
  createEvent,
  createEventBus,
  RedisStreamEventBus,
  type TidemarkEvent,
} from '@tidemark/events';
import { startBroker, type BrokerHandle, type BrokerMessage } from '@tidemark/service-bus-broker';
import { waitFor } from '@tidemark/testing';
import { Redis } from 'ioredis';
import { z } from 'zod';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

// CloudEvents 1.0 (spec + JSON format schema): required specversion/id/source/type, optional subject, time
// (RFC 3339), datacontenttype; written here from the spec rather than from the lib's own schema.
const uriReference = z.string().refine((s) => {
  try {
    new URL(s, 'http://base.invalid');
    return s.length > 0 && !/\s/.test(s);
  } catch {
    return false;
  }
}, 'a URI-reference');
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const cloudEvent = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string().min(1),
    source: uriReference,
    type: z.string().min(1),
    subject: z.string().min(1).optional(),
    time: z.string().regex(rfc3339).optional(),
    datacontenttype: z.string().min(1).optional(),
  })
  .catchall(z.unknown())
  // Extension attribute names are lowercase letters and digits only.
  .refine((e) => Object.keys(e).every((k) => /^[a-z0-9]+$/.test(k)), 'attribute names are [a-z0-9]');

function assertCloudEvent(body: unknown): void {
  const parsed = cloudEvent.safeParse(body);
  assert.ok(parsed.success, parsed.error?.message);
}

function event(type: TidemarkEvent['type'], targetId: string, backupId?: string): TidemarkEvent {
  return createEvent({ type, source: 'test', targetId, backupId });
}

describe('ServiceBusEventBus and the outbox, with @azure/service-bus against the test broker', () => {
  let broker: BrokerHandle;
  let redis: Redis;
  const closers: (() => Promise<void>)[] = [];

  function newTopic(subscriptions: Record<string, string | undefined>): string {
    const topic = `events-${randomUUID()}`;
    broker.createTopic(topic);
    for (const [name, filter] of Object.entries(subscriptions))
      broker.createSubscription(topic, name, filter === undefined ? {} : { filter });
    return topic;
  }

  function newBus(topic: string): ServiceBusEventBus {
    const bus = new ServiceBusEventBus(
      { connectionString: broker.connectionString },
      { topic, subscription: 'audit', sendTimeoutMs: 3000 },
    );
    closers.push(() => bus.close());
    return bus;
  }

  const bodies = (messages: BrokerMessage[]): TidemarkEvent[] => messages.map((m) => m.body as TidemarkEvent);

  before(async () => {
    broker = await startBroker();
    redis = new Redis(REDIS_URL);
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
    await redis.quit();
    await broker.stop();
  });

  test('an event arrives on `audit` as a structured CloudEvent; `alerts` gets only failures', async () => {
    const topic = newTopic({ audit: undefined, alerts: "severity IN ('error','critical')" });
    const bus = newBus(topic);
    const verified = event('tidemark.backup.verified', 'orders-db', '20261121T020000Z-aaaaaa');
    const failed = event('tidemark.backup.failed', 'orders-db', '20261121T030000Z-bbbbbb');
    const corrupt = event('tidemark.backup.corrupt', 'users-db');
    await bus.publish(verified);
    await bus.publishBatch([failed, corrupt]);

    const audit = broker.messages(topic, 'audit').active;
    assert.equal(audit.length, 3);
    const first = audit[0]!;
    assert.equal(first.contentType, CLOUDEVENTS_CONTENT_TYPE);
    assert.equal(first.subject, 'tidemark.backup.verified');
    assert.equal(first.messageId, verified.id);
    assert.deepEqual(first.applicationProperties, {
      type: 'tidemark.backup.verified',
      severity: 'info',
      targetId: 'orders-db',
      backupId: '20261121T020000Z-aaaaaa',
    });
    assert.deepEqual(first.body, verified);
    assert.equal(audit[2]?.applicationProperties['backupId'], undefined);
    for (const body of bodies(audit)) assertCloudEvent(body);

    assert.deepEqual(
      bodies(broker.messages(topic, 'alerts').active).map((e) => e.id),
      [failed.id, corrupt.id],
    );
    // history peeks the configured subscription without taking anything from it.
    const history = await bus.history({ targetId: 'orders-db' });
    assert.deepEqual(
      history.map((s) => s.event.id),
      [verified.id, failed.id],
    );
    assert.equal(broker.messages(topic, 'audit').active.length, 3);
  });

  test('consume completes on success, abandons on failure (redelivered), dead-letters garbage', async () => {
    const topic = newTopic({ worker: undefined });
    const bus = newBus(topic);
    const ok = event('tidemark.backup.dumped', 't1');
    const flaky = event('tidemark.backup.uploaded', 't2');
    await bus.publish(ok);
    await bus.publish(flaky);
    const raw = new ServiceBusClient(broker.connectionString);
    const sender = raw.createSender(topic);
    await sender.sendMessages([
      { body: 'not json at all {', messageId: 'garbage-1' },
      { body: { specversion: '1.0', hello: 'world' }, messageId: 'garbage-2' },
    ]);
    await sender.close();
    await raw.close();

    const seen: string[] = [];
    const controller = new AbortController();
    const consuming = bus.consume(
      'worker',
      'c1',
      (e) => {
        seen.push(e.id);
        // The first delivery of `flaky` fails; its redelivery succeeds.
        if (e.id === flaky.id && seen.filter((id) => id === flaky.id).length === 1)
          return Promise.reject(new Error('handler failed'));
        return Promise.resolve();
      },
      controller.signal,
    );
    try {
      await waitFor(
        () => {
          const { active, deadLettered } = broker.messages(topic, 'worker');
          return Promise.resolve(active.length === 0 && deadLettered.length === 2);
        },
        { timeoutMs: 15_000, intervalMs: 50, what: 'the subscription to be drained' },
      );
    } finally {
      controller.abort();
      await consuming;
    }
    assert.deepEqual(seen.filter((id) => id === ok.id).length, 1);
    assert.deepEqual(seen.filter((id) => id === flaky.id).length, 2);
    const dead = broker.messages(topic, 'worker').deadLettered;
    assert.deepEqual(dead.map((m) => m.messageId).sort(), ['garbage-1', 'garbage-2']);
    assert.ok(dead.every((m) => m.applicationProperties['DeadLetterReason'] === 'NotACloudEvent'));
  });

  test('follow receives from its subscription and completes what it yielded', async () => {
    const topic = newTopic({ audit: undefined });
    const bus = newBus(topic);
    const published = [event('tidemark.backup.requested', 'a'), event('tidemark.backup.dumped', 'a')];
    const controller = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const stored of bus.follow({ signal: controller.signal })) {
        seen.push(stored.event.id);
        if (seen.length === published.length) controller.abort();
      }
    })();
    for (const e of published) await bus.publish(e);
    await following;
    assert.deepEqual(
      seen,
      published.map((e) => e.id),
    );
    await waitFor(() => Promise.resolve(broker.messages(topic, 'audit').active.length === 0), {
      timeoutMs: 5000,
      intervalMs: 50,
      what: 'the followed messages to be completed',
    });
  });

  test('outbox: with the broker down emit returns at once and loses nothing; afterwards all arrive in order', async () => {
    const topic = newTopic({ audit: undefined });
    const key = `test:outbox:${randomUUID()}`;
    closers.push(async () => {
      await redis.del(key, `${key}:lease`);
    });
    // Two replicas forwarding the same outbox at once.
    const replicas = [0, 1].map(() => {
      const outbox = new OutboxEventBus(REDIS_URL, newBus(topic), {
        key,
        baseBackoffMs: 100,
        maxBackoffMs: 1000,
        pollMs: 100,
        batchSize: 7,
      });
      closers.push(() => outbox.close());
      return outbox;
    });
    const publishers = replicas.map((outbox, i) => new EventPublisher(outbox, `replica-${i}`));

    const targets = ['t1', 't2', 't3'];
    const emitted: TidemarkEvent[] = [];
    const emitSome = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i += 1) {
        const targetId = targets[i % targets.length]!;
        const publisher = publishers[i % publishers.length]!;
        const requested = { stage: 'dump', trigger: 'manual' } as const;
        emitted.push(
          await publisher.emit('tidemark.backup.requested', targetId, `b${emitted.length}`, requested),
        );
      }
    };

    await emitSome(6);
    await broker.stop();
    const started = Date.now();
    await emitSome(30);
    const perEmitMs = (Date.now() - started) / 30;
    assert.ok(perEmitMs < 50, `emit took ${perEmitMs} ms on average while the broker was down`);
    await sleep(2500);
    assert.ok((await replicas[0]!.pending()) > 0, 'nothing should have left while the broker was down');
    await broker.start();
    await emitSome(6);

    await waitFor(
      async () =>
        (await replicas[0]!.pending()) === 0 &&
        broker.messages(topic, 'audit').active.length >= emitted.length,
      { timeoutMs: 30_000, intervalMs: 100, what: 'the outbox to drain' },
    );
    const delivered = bodies(broker.messages(topic, 'audit').active);
    for (const body of delivered) assertCloudEvent(body);
    // Duplicates are possible (the message id dedupes them on Service Bus); losses are not.
    const firstSeen = delivered.filter((e, i) => delivered.findIndex((d) => d.id === e.id) === i);
    assert.deepEqual(new Set(firstSeen.map((e) => e.id)), new Set(emitted.map((e) => e.id)));
    for (const targetId of targets) {
      assert.deepEqual(
        firstSeen.filter((e) => e.data.targetId === targetId).map((e) => e.id),
        emitted.filter((e) => e.data.targetId === targetId).map((e) => e.id),
        `order of ${targetId}`,
      );
    }
  });

  test('createEventBus picks Service Bus (behind the outbox) when configured, else the Redis Stream', async () => {
    const redisBus = createEventBus({ REDIS_URL });
    const serviceBus = createEventBus(
      { REDIS_URL, AZURE_SERVICEBUS_CONNECTION_STRING: broker.connectionString },
      { forward: false },
    );
    try {
      assert.ok(redisBus instanceof RedisStreamEventBus);
      assert.ok(serviceBus instanceof OutboxEventBus);
      assert.equal(serviceBus.key, 'tidemark:outbox');
      assert.ok(serviceBus.inner instanceof ServiceBusEventBus);
      assert.equal(serviceBus.inner.topic, 'tidemark-events');
      assert.equal(serviceBus.inner.subscription, 'cli');
      const named = createEventBus(
        {
          REDIS_URL,
          AZURE_SERVICEBUS_NAMESPACE: 'tidemark-test',
          TIDEMARK_EVENTS_TOPIC: 'other',
          TIDEMARK_EVENTS_SUBSCRIPTION: 'ops',
        },
        { forward: false },
      );
      closers.push(() => named.close());
      assert.ok(named instanceof OutboxEventBus && named.inner instanceof ServiceBusEventBus);
      assert.equal(named.key, 'tidemark:outbox:other');
      assert.equal(named.inner.topic, 'other');
      assert.equal(named.inner.subscription, 'ops');
    } finally {
      await redisBus.close();
      await serviceBus.close();
    }
  });
});
