import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Logger } from '@nestjs/common';
import { createEvent, type EventBus, type EventHandler, type EventType } from '@tidemark/events';
import type { TidemarkConfig } from '@tidemark/policy';
import { JOBS, parseJob, QUEUE_PREFIX } from '@tidemark/queues';
import { uniqueName, waitFor } from '@tidemark/testing';
import { Queue, Worker } from 'bullmq';
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

/** What the triggers read of the config: which targets exist, and their policies. */
const CONFIG = {
  targets: [
    { id: 'orders-db', policy: 'nightly' },
    { id: 'users-db', policy: 'nightly' },
  ],
  policies: { nightly: {} },
} as unknown as TidemarkConfig;

describe('RetentionTriggers: backup.verified events and the daily sweep, both as retention jobs (real Redis)', () => {
  let queue: Queue;
  const bus = new FakeBus();
  let triggers: RetentionTriggers;

  /** The jobs the triggers queued for events (the sweep's scheduler job aside). */
  const eventJobs = async () =>
    (await queue.getJobs(['waiting', 'active', 'delayed']))
      .filter((job) => (job.data as { targetId?: string }).targetId !== undefined)
      .map((job) => parseJob(JOBS.retentionOnVerified, job.data))
      .sort((a, b) => String(a.targetId).localeCompare(String(b.targetId)));

  before(async () => {
    Logger.overrideLogger(false);
    queue = new Queue(uniqueName('retention'), { connection: { url: REDIS_URL }, prefix: QUEUE_PREFIX });
    triggers = new RetentionTriggers(CONFIG, bus as unknown as EventBus, queue);
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

  test('a backup.verified event queues a job for its target carrying ids only; a burst is one job; others are ignored', async () => {
    await triggers.onEvent(event('tidemark.backup.verified'));
    await triggers.onEvent(event('tidemark.backup.verified'));
    await triggers.onEvent(event('tidemark.backup.failed'));
    await triggers.onEvent(event('tidemark.retention.applied'));
    await triggers.onEvent(event('tidemark.backup.verified', 'users-db'));
    await triggers.onEvent(event('tidemark.backup.verified'));
    assert.deepEqual(await eventJobs(), [
      { v: 1, targetId: 'orders-db' },
      { v: 1, targetId: 'users-db' },
    ]);
    await queue.drain();
  });

  test('a backup verified while the job of its target runs gets one more run after it, however many arrive', async () => {
    const runs: string[] = [];
    let release = () => {};
    const running = new Promise<void>((resolve) => {
      release = resolve;
    });
    const service = {
      apply: async (targetId: string) => {
        runs.push(targetId);
        if (runs.length === 1) await running;
        return { targetId, skipped: null };
      },
    } as unknown as RetentionService;
    const retry = new RetentionRetry(service, queue, 1000);
    const worker = new Worker(queue.name, (job) => retry.run(job.id, parseJob(JOBS.retention, job.data)), {
      connection: { url: REDIS_URL },
      prefix: QUEUE_PREFIX,
    });
    try {
      await triggers.onEvent(event('tidemark.backup.verified'));
      await waitFor(() => Promise.resolve(runs.length === 1), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'a run',
      });
      await triggers.onEvent(event('tidemark.backup.verified'));
      await triggers.onEvent(event('tidemark.backup.verified'));
      assert.deepEqual(runs, ['orders-db'], 'never two runs of a target at once');
      release();
      await waitFor(() => Promise.resolve(runs.length === 2), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'the run after it',
      });
      await waitFor(async () => (await eventJobs()).length === 0, {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'the queue to empty',
      });
      assert.deepEqual(runs, ['orders-db', 'orders-db']);
    } finally {
      await worker.close();
    }
  });

  test('a target no longer configured is acknowledged without a job; a failure to queue is thrown for redelivery', async () => {
    await triggers.onEvent(event('tidemark.backup.verified', 'gone'));
    assert.deepEqual(await eventJobs(), []);
    const down = { add: () => Promise.reject(new Error('Redis unavailable')) } as unknown as Queue;
    const failing = new RetentionTriggers(CONFIG, bus as unknown as EventBus, down);
    await assert.rejects(failing.onEvent(event('tidemark.backup.verified')), /Redis unavailable/);
  });

  test('shutdown stops consuming', async () => {
    await triggers.beforeApplicationShutdown();
    assert.ok(bus.consumed.every((c) => c.signal.aborted));
  });
});
