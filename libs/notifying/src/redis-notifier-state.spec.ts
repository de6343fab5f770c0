import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEvent, type TidemarkEvent } from '@tidemark/events';
import { Redis } from 'ioredis';
import type { Channel, DeliveryResult, Notification, NotificationsSettings } from './channel-contract';
import { Notifier } from './notifier';
import { RedisConditionStore, RedisDeliveryClaims, RedisDigestStore } from './redis-notifier-state';

// Redis DB 5 of the machine's Redis (the notifier's tests own 5 and 6).
const REDIS_URL = 'redis://127.0.0.1:6379/5';
const ROOT = 'tidemark-notifying-spec';

class CountingChannel implements Channel {
  readonly kind = 'webhook';
  readonly sent: Notification[] = [];
  constructor(readonly name: string) {}
  async send(notification: Notification): Promise<DeliveryResult> {
    // A delivery takes a moment, so concurrent replicas really overlap.
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.sent.push(notification);
    return { ok: true, status: 200, attempts: 1, detail: 'HTTP 200' };
  }
}

const settings: NotificationsSettings = {
  channels: { hook: { type: 'webhook' } },
  routes: [
    { match: { severity: ['error'] }, channels: ['hook'] },
    { match: { types: ['tidemark.backup.verified'] }, channels: ['hook'], digest: 'daily' },
  ],
  repeatAfter: '4h',
  digestTime: '08:00',
};

const failed = (): TidemarkEvent =>
  createEvent({
    type: 'tidemark.backup.failed',
    source: 'test',
    targetId: 'orders-db',
    data: { stage: 'dump', attempts: 3, error: { code: 'dump-failed', message: 'refused' } },
  });

describe('Redis notifier state: replicas share conditions, claims and digests', () => {
  let redis: Redis;
  before(async () => {
    redis = new Redis(REDIS_URL);
    await redis.flushdb();
  });
  after(async () => {
    await redis.flushdb();
    await redis.quit();
  });

  function replica(owner: string, channel: CountingChannel): Notifier {
    return new Notifier({
      settings,
      channels: new Map([['hook', channel]]),
      conditions: new RedisConditionStore(redis, ROOT, owner),
      claims: new RedisDeliveryClaims(redis, ROOT),
      digests: new RedisDigestStore(redis, ROOT),
      lastVerified: { lastVerified: () => Promise.resolve(null) },
      publishFailure: () => Promise.resolve(),
      count: () => undefined,
      owner,
    });
  }

  test('three replicas, the same event three times and two failures of one condition at once: one raise', async () => {
    const channel = new CountingChannel('hook');
    const replicas = ['a', 'b', 'c'].map((owner) => replica(owner, channel));
    const event = failed();
    const other = failed();
    const results = await Promise.allSettled([
      ...replicas.map((r) => r.handle(event)),
      replicas[0]?.handle(other),
    ]);
    // A replica that met another's claim throws (its event comes again); none sent twice.
    assert.equal(channel.sent.length, 1, 'one message for one condition');
    assert.equal(channel.sent[0]?.kind, 'raise');
    for (const result of results)
      if (result.status === 'rejected')
        assert.match(String(result.reason), /being delivered by another replica/);
    // Redelivered after the winner is done: nothing sent (done, or the condition already told), still one message.
    const third = replicas[2];
    assert.ok(third);
    const again = await third.handle(event);
    assert.deepEqual(again.sent, []);
    assert.equal(again.skipped.length + again.suppressed.length, 1);
    assert.equal(channel.sent.length, 1);
    const stored = await redis.hgetall(`${ROOT}:notifier:conditions:orders-db`);
    assert.equal(Object.keys(stored).length, 1);
  });

  test('a claim whose holder died is free again after its TTL; done is remembered', async () => {
    const claims = new RedisDeliveryClaims(redis, ROOT);
    assert.equal(await claims.claim('e1', 'hook', 'dead'), 'claimed');
    assert.equal(await claims.claim('e1', 'hook', 'alive'), 'busy');
    // What the TTL does when the holder is gone (without waiting five minutes for it):
    await redis.pexpire(`${ROOT}:notifier:delivery:e1:hook`, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await claims.claim('e1', 'hook', 'alive'), 'claimed');
    await claims.done('e1', 'hook');
    assert.equal(await claims.claim('e1', 'hook', 'other'), 'done');
    assert.ok((await redis.pttl(`${ROOT}:notifier:delivery:e1:hook`)) > 86_400_000);
    await claims.release('e1', 'hook', 'other');
    assert.equal(await claims.claim('e1', 'hook', 'other'), 'done', 'release never frees what is done');
  });

  test('digest entries: once per event, set aside per run, a retried run gets the same ones', async () => {
    const digests = new RedisDigestStore(redis, ROOT);
    const entry = {
      eventId: 'v1',
      type: 'tidemark.backup.verified',
      severity: 'info',
      targetId: 'a',
      time: '2026-12-07T01:00:00Z',
      size: 10,
    };
    await digests.add(1, entry);
    await digests.add(1, entry);
    await digests.add(1, { ...entry, eventId: 'v2', time: '2026-12-07T02:00:00Z' });
    assert.deepEqual(
      (await digests.take(1, 'run-1')).map((e) => e.eventId),
      ['v1', 'v2'],
    );
    await digests.add(1, { ...entry, eventId: 'v3' });
    assert.deepEqual(
      (await digests.take(1, 'run-1')).map((e) => e.eventId),
      ['v1', 'v2'],
      'the retried run',
    );
    await digests.finish(1, 'run-1');
    assert.deepEqual(
      (await digests.take(1, 'run-2')).map((e) => e.eventId),
      ['v3'],
    );
    await digests.finish(1, 'run-2');
    assert.deepEqual(await digests.take(1, 'run-3'), [], 'nothing to take is an empty digest, not an error');
  });
});
