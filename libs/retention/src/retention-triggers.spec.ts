import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Logger } from '@nestjs/common';
import { createEvent, type EventBus, type EventHandler, type EventType } from '@tidemark/events';
import { ConfigError } from '@tidemark/policy';
import { QUEUE_PREFIX } from '@tidemark/queues';
import { uniqueName } from '@tidemark/testing';
import { Queue } from 'bullmq';
import { RetentionTriggers, RETENTION_CONSUMER_GROUP } from './retention-triggers';
import { RetentionRetry } from './retention-retry';
import type { RetentionService } from './retention.service';

const REDIS_URL = 'redis://127.0.0.1:6379/15';

/** A bus whose consume runs until aborted, recording how it was called. */
class FakeBus {
  consumed: { group: string; consumer: string; handler: EventHandler; signal: AbortSignal }[] = [];
  consume(group: string, consumer: string, handler: EventHandler, signal: AbortSignal): Promise<void> {
    this.consumed.push({ group, consumer, handler, signal });
    return new Promise((resolve) => {
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
    });
  }
}

describe('RetentionTriggers: backup.verified events and the daily sweep (real Redis)', () => {
  let queue: Queue;
  const applied: string[] = [];
  let failWith: Error | undefined;
  const service = {
    apply: (targetId: string) => {
      if (failWith) return Promise.reject(failWith);
      applied.push(targetId);
      return Promise.resolve({ targetId, skipped: null });
    },
  } as unknown as RetentionService;
  const bus = new FakeBus();
  let triggers: RetentionTriggers;

  before(async () => {
    Logger.overrideLogger(false);
    queue = new Queue(uniqueName('retention'), { connection: { url: REDIS_URL }, prefix: QUEUE_PREFIX });
    triggers = new RetentionTriggers(
      new RetentionRetry(service, queue, 1000),
      bus as unknown as EventBus,
      queue,
    );
    await triggers.onApplicationBootstrap();
    await triggers.onApplicationBootstrap();
  });

  after(async () => {
    await triggers.beforeApplicationShutdown();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  test('one job scheduler retention:daily at 03:00 UTC whose job is { v: 1 }, however often it starts', async () => {
    const schedulers = await queue.getJobSchedulers(0, -1);
    assert.deepEqual(
      schedulers.map((s) => [s.key, s.pattern, s.tz]),
      [['retention:daily', '0 3 * * *', 'UTC']],
    );
    const [job] = await queue.getJobs(['delayed', 'waiting']);
    assert.equal(job?.name, 'retention');
    assert.deepEqual(job.data, { v: 1 });
  });

  test('consumes the event stream in the retention group as <hostname>-<pid>', () => {
    const first = bus.consumed[0];
    assert.equal(first?.group, RETENTION_CONSUMER_GROUP);
    assert.match(first.consumer, new RegExp(`-${process.pid}$`));
  });

  const event = (type: EventType, targetId = 'orders-db') =>
    createEvent({ type, source: 'verifier', targetId, backupId: '20261121T020000Z-aaaaaa' });

  test('a backup.verified event applies that target; other events are ignored', async () => {
    await triggers.onEvent(event('tidemark.backup.verified'));
    await triggers.onEvent(event('tidemark.backup.failed'));
    await triggers.onEvent(event('tidemark.retention.applied'));
    assert.deepEqual(applied, ['orders-db']);
  });

  test('a target no longer configured is acknowledged; any other failure is thrown for redelivery', async () => {
    failWith = new ConfigError([{ path: '', message: 'unknown target "gone"' }]);
    await triggers.onEvent(event('tidemark.backup.verified', 'gone'));
    failWith = new Error('Blob Storage unavailable');
    await assert.rejects(triggers.onEvent(event('tidemark.backup.verified')), /Blob Storage unavailable/);
    failWith = undefined;
  });

  test('shutdown stops consuming', async () => {
    await triggers.beforeApplicationShutdown();
    assert.ok(bus.consumed.every((c) => c.signal.aborted));
  });
});
