import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Logger } from '@nestjs/common';
import { createEvent, type EventBus } from '@tidemark/events';
import type { TidemarkConfig } from '@tidemark/policy';
import { JOBS, parseJob, QUEUE_PREFIX, RedisLock } from '@tidemark/queues';
import { uniqueName, waitFor } from '@tidemark/testing';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { RetentionRetry, RetentionTargetBusyError, retentionRetryJobId } from './retention-retry';
import { RetentionTriggers } from './retention-triggers';
import { RETENTION_LOCK_PURPOSE, type RetentionReport, type RetentionService } from './retention.service';

const REDIS_URL = 'redis://127.0.0.1:6379/5';

/** RetentionService's lock handling on the real Redis lock; the run itself (Blob Storage) is only counted. */
function lockingService(lock: RedisLock, runs: string[]): RetentionService {
  const apply = async (targetId: string): Promise<Partial<RetentionReport>> => {
    const owner = randomUUID();
    const holder = await lock.acquire(targetId, owner);
    if (holder !== owner) return { targetId, skipped: { reason: 'another run holds the target', holder } };
    runs.push(targetId);
    await lock.release(targetId, owner);
    return { targetId, skipped: null };
  };
  return { apply, applyAll: () => Promise.resolve([]) } as unknown as RetentionService;
}

describe('a retention trigger that meets a held lock is retried later through the queue (real Redis)', () => {
  let redis: Redis;
  let queue: Queue;
  let lock: RedisLock;
  let retry: RetentionRetry;
  let triggers: RetentionTriggers;
  const runs: string[] = [];
  const verified = createEvent({
    type: 'tidemark.backup.verified',
    source: 'verifier',
    targetId: 'orders-db',
    backupId: '20261121T020000Z-aaaaaa',
  });

  before(() => {
    Logger.overrideLogger(false);
    redis = new Redis(REDIS_URL);
    queue = new Queue(uniqueName('retention'), { connection: { url: REDIS_URL }, prefix: QUEUE_PREFIX });
    lock = new RedisLock(redis, `${RETENTION_LOCK_PURPOSE}-${uniqueName('t')}`, 60_000);
    retry = new RetentionRetry(lockingService(lock, runs), queue, 200);
    const config = {
      targets: [{ id: 'orders-db', policy: 'p' }],
      policies: { p: {} },
    } as unknown as TidemarkConfig;
    triggers = new RetentionTriggers(config, {} as EventBus, queue);
  });

  after(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await redis.del(lock.key('orders-db'));
    await redis.quit();
  });

  test('backup.verified while another run holds the target: its job queues one delayed retry job; triggers coalesce', async () => {
    await lock.acquire('orders-db', 'another-run');
    await triggers.onEvent(verified);
    await triggers.onEvent(verified);
    const [job, ...more] = await queue.getJobs(['waiting']);
    assert.ok(job);
    assert.deepEqual(more, [], 'one job for the burst');
    await retry.run(job.id, parseJob(JOBS.retention, job.data));
    await job.remove();
    assert.deepEqual(runs, [], 'nothing ran while the lock was held');
    const delayed = await queue.getJobs(['delayed']);
    assert.deepEqual(
      delayed.map((j): unknown[] => [j.id, j.data as unknown]),
      [[retentionRetryJobId('orders-db'), { v: 1, targetId: 'orders-db' }]],
    );
  });

  test('the retry meets the lock again and backs off; once the lock is free it runs the target', async () => {
    const failures: Error[] = [];
    const worker = new Worker(queue.name, (job) => retry.run(job.id, { v: 1, targetId: 'orders-db' }), {
      connection: { url: REDIS_URL },
      prefix: QUEUE_PREFIX,
    });
    worker.on('failed', (_job, error) => failures.push(error));
    try {
      await waitFor(() => Promise.resolve(failures.length > 0), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'a busy retry',
      });
      assert.ok(failures[0] instanceof RetentionTargetBusyError);
      assert.deepEqual(runs, []);
      await lock.release('orders-db', 'another-run');
      await waitFor(() => Promise.resolve(runs.length > 0), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'the retried run',
      });
      assert.deepEqual(runs, ['orders-db']);
      await waitFor(async () => (await queue.getJob(retentionRetryJobId('orders-db'))) === undefined, {
        timeoutMs: 5_000,
        intervalMs: 20,
        what: 'the finished retry job to go',
      });
    } finally {
      await worker.close();
    }
  });

  test('a run of another retention job that meets the lock queues the retry too, and it can be queued again', async () => {
    await lock.acquire('orders-db', 'another-run');
    await retry.run('retention-orders-db-2026-12-02', { v: 1, targetId: 'orders-db' });
    assert.ok(await queue.getJob(retentionRetryJobId('orders-db')), 'a retry is queued');
    await lock.release('orders-db', 'another-run');
  });
});
