import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventBus } from '@tidemark/events';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { NotificationsSettings } from './channel-contract';
import { NotifierTriggers } from './notifier-triggers';

// Redis DB 6 (the notifier's tests own 5 and 6), a queue prefix of this spec's own.
const REDIS_URL = 'redis://127.0.0.1:6379/6';

const settings = (digests: ('daily' | 'weekly' | undefined)[]): NotificationsSettings => ({
  channels: { hook: { type: 'webhook' } },
  routes: digests.map((digest) => ({ match: {}, channels: ['hook'], ...(digest && { digest }) })),
  repeatAfter: '4h',
  digestTime: '06:30',
});

describe('NotifierTriggers: one job scheduler per digest route, none left over', () => {
  let redis: Redis;
  let queue: Queue;
  const noBus = {} as EventBus; // never consumed: these triggers have no Notifier
  before(async () => {
    redis = new Redis(REDIS_URL);
    await redis.flushdb();
    queue = new Queue('notifier', { connection: { url: REDIS_URL }, prefix: 'notifying-spec' });
  });
  after(async () => {
    await queue.close();
    await redis.flushdb();
    await redis.quit();
  });

  const schedulers = async () => (await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s.pattern]).sort();

  test('digest routes get theirs at digestTime; routes that are no more digests, or no notifications, lose theirs', async () => {
    await queue.upsertJobScheduler('unrelated', { pattern: '0 0 * * *' }, { name: 'x', data: {} });
    await new NotifierTriggers(
      null,
      settings([undefined, 'daily', 'weekly']),
      noBus,
      queue,
    ).onApplicationBootstrap();
    assert.deepEqual(await schedulers(), [
      ['notifier:digest:1', '30 6 * * *'],
      ['notifier:digest:2', '30 6 * * 1'],
      ['unrelated', '0 0 * * *'],
    ]);
    await new NotifierTriggers(null, settings(['weekly', undefined]), noBus, queue).onApplicationBootstrap();
    assert.deepEqual(await schedulers(), [
      ['notifier:digest:0', '30 6 * * 1'],
      ['unrelated', '0 0 * * *'],
    ]);
    await new NotifierTriggers(null, null, noBus, queue).onApplicationBootstrap();
    assert.deepEqual(await schedulers(), [['unrelated', '0 0 * * *']]);
  });
});
