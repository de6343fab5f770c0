import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LoadedConfig } from '@tidemark/config';
import { validateConfig } from '@tidemark/policy';
import { QUEUE_PREFIX } from '@tidemark/queues';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ScheduleSync } from './schedule-sync.service';

const REDIS_URL = 'redis://127.0.0.1:6379/9';

function config(targets: string[]): LoadedConfig {
  return {
    ...validateConfig({
      policies: {
        nightly: { schedule: '0 2 * * *', timezone: 'Europe/Berlin' },
        hourly: { schedule: '15 * * * *' },
      },
      targets: targets.map((id, i) => ({
        id,
        kind: 'postgres',
        url: 'postgres://x@h/db',
        policy: i === 0 ? 'nightly' : 'hourly',
      })),
    }),
    source: '/tmp/tidemark.yaml',
  };
}

describe('ScheduleSync (real Redis)', () => {
  let queue: Queue;

  before(async () => {
    const redis = new Redis(REDIS_URL);
    await redis.flushdb();
    await redis.quit();
    queue = new Queue('schedule', { connection: { url: REDIS_URL }, prefix: QUEUE_PREFIX });
  });

  after(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });

  test('one job scheduler per target with its cron and time zone; idempotent', async () => {
    const sync = new ScheduleSync(config(['orders-db', 'users-db']), queue);
    await sync.sync();
    await sync.sync();
    const schedulers = (await queue.getJobSchedulers(0, -1)).sort((a, b) => a.key.localeCompare(b.key));
    assert.deepEqual(
      schedulers.map((s) => [s.key, s.pattern, s.tz ?? null]),
      [
        ['target:orders-db', '0 2 * * *', 'Europe/Berlin'],
        ['target:users-db', '15 * * * *', 'UTC'],
      ],
    );
    const next = schedulers[0]?.next ?? 0;
    assert.equal(
      new Date(next).toLocaleString('en-GB', {
        timeZone: 'Europe/Berlin',
        hour: '2-digit',
        minute: '2-digit',
      }),
      '02:00',
    );
  });

  test('a target that left the config loses its schedule', async () => {
    const result = await new ScheduleSync(config(['orders-db']), queue).sync();
    assert.deepEqual(result, { upserted: ['orders-db'], removed: ['users-db'] });
    assert.deepEqual(
      (await queue.getJobSchedulers(0, -1)).map((s) => s.key),
      ['target:orders-db'],
    );
  });

  test('each tick is a schedule job carrying only the target id', async () => {
    const [job] = await queue.getJobs(['delayed', 'waiting']);
    assert.ok(job, 'the next tick is queued');
    assert.equal(job.name, 'tick');
    assert.deepEqual(job.data, { v: 1, targetId: 'orders-db' });
  });
});
