import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Logger } from '@nestjs/common';
import type { LoadedConfig } from '@tidemark/config';
import { EventPublisher, RedisStreamEventBus } from '@tidemark/events';
import { TidemarkMetrics } from '@tidemark/observability';
import { validateConfig } from '@tidemark/policy';
import { QUEUE_PREFIX, queuePrefix } from '@tidemark/queues';
import { startRedisServer, type RedisServerHandle } from '@tidemark/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ScheduleSync, type ScheduleReconcileOptions } from './schedule-sync.service';

function config(targets: string[], schedules: [string, string] = ['0 2 * * *', '15 * * * *']): LoadedConfig {
  return {
    ...validateConfig({
      policies: {
        nightly: { schedule: schedules[0], timezone: 'Europe/Berlin' },
        hourly: { schedule: schedules[1] },
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

// Its own redis-server: these tests FLUSHDB.
describe('ScheduleSync (real Redis)', () => {
  let server: RedisServerHandle;
  let redis: Redis;
  let queue: Queue;
  let bus: RedisStreamEventBus;
  let metrics: TidemarkMetrics;
  const queues: Queue[] = [];

  const newQueue = (prefix = QUEUE_PREFIX): Queue => {
    const q = new Queue('schedule', { connection: { url: server.url }, prefix });
    queues.push(q);
    return q;
  };
  const newSync = (
    cfg: LoadedConfig,
    q = queue,
    options: Partial<ScheduleReconcileOptions> = {},
  ): ScheduleSync => new ScheduleSync(cfg, q, new EventPublisher(bus, 'scheduler'), metrics, redis, options);

  before(async () => {
    Logger.overrideLogger(false);
    server = await startRedisServer();
    redis = new Redis(server.url);
    bus = new RedisStreamEventBus(server.url);
    queue = newQueue();
  });

  beforeEach(() => {
    metrics = new TidemarkMetrics('scheduler');
  });

  after(async () => {
    await Promise.all(queues.map((q) => q.close()));
    await bus.close();
    await redis.quit();
    await server.stop();
  });

  test('one job scheduler per target with its cron and time zone; idempotent', async () => {
    const sync = newSync(config(['orders-db', 'users-db']));
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
    const result = await newSync(config(['orders-db'])).sync();
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

  test('after a FLUSHDB one reconcile puts every schedule back and reports the ticks missed meanwhile', async () => {
    await redis.flushdb();
    let now = new Date();
    const sync = newSync(config(['orders-db', 'users-db'], ['* * * * *', '15 * * * *']), queue, {
      now: () => now,
    });
    await sync.sync();
    assert.deepEqual(await sync.reconcile(), [], 'nothing to restore while all is in place');
    const planned = (await queue.getJobSchedulers(0, -1)).find((s) => s.key === 'target:orders-db')?.next;
    assert.ok(planned !== undefined);

    await redis.flushdb();
    // Two and a half minutes later: three every-minute ticks fell due while the scheduler was gone.
    now = new Date(planned + 150_000);
    const restored = await sync.reconcile();

    assert.deepEqual((await queue.getJobSchedulers(0, -1)).map((s) => s.key).sort(), [
      'target:orders-db',
      'target:users-db',
    ]);
    const orders = restored.find((r) => r.targetId === 'orders-db');
    assert.equal(orders?.reason, 'missing');
    assert.deepEqual(
      orders.missedTicks,
      [0, 60_000, 120_000].map((d) => new Date(planned + d).toISOString()),
    );
    assert.equal(orders.missedTickCount, 3);
    const [event] = await bus.history({ targetId: 'orders-db' });
    assert.equal(event?.event.type, 'tidemark.schedule.restored');
    assert.equal(event.event.severity, 'warning');
    assert.deepEqual(event.event.data.missedTicks, orders.missedTicks);
    const text = await metrics.metricsText();
    assert.match(
      text,
      /tidemark_schedules_restored_total\{target="orders-db",reason="missing",service="scheduler"\} 1/,
    );
    assert.match(text, /tidemark_schedule_missed_ticks_total\{target="orders-db",service="scheduler"\} 3/);
    assert.deepEqual(await sync.reconcile(), [], 'restored once');
  });

  test('a scheduler whose next run is long past (its delayed job lost) is stalled and restored', async () => {
    await redis.flushdb();
    const sync = newSync(config(['orders-db'], ['0 * * * *', '15 * * * *']), queue, { graceMs: 60_000 });
    await sync.sync();
    // BullMQ keeps a scheduler's next run as its score in <prefix>:schedule:repeat and that run as a delayed job.
    const stale = Date.now() - 3 * 3600_000;
    await redis.zadd(`${QUEUE_PREFIX}:schedule:repeat`, stale, 'target:orders-db');
    const [tick] = await queue.getJobs(['delayed']);
    assert.ok(tick?.id);
    await tick.remove();
    const [restored] = await sync.reconcile();
    assert.equal(restored?.reason, 'stalled');
    assert.equal(restored.missedTickCount, 3, 'the hourly ticks of the last three hours');
    const next = (await queue.getJobSchedulers(0, -1))[0]?.next ?? 0;
    assert.ok(next > Date.now(), 'the next run is in the future again');
    assert.ok(
      (await queue.getJobs(['delayed'])).some((j) => j.name === 'tick'),
      'a tick is queued again',
    );
  });

  test('replicas reconciling at once restore each schedule once and announce it once', async () => {
    await redis.flushdb();
    const cfg = config(['orders-db', 'users-db']);
    const replicas = [newSync(cfg), newSync(cfg, newQueue()), newSync(cfg, newQueue())];
    await Promise.all(replicas.map((r) => r.sync()));
    await redis.flushdb();
    const restored = (await Promise.all(replicas.map((r) => r.reconcile()))).flat();
    assert.deepEqual(restored.map((r) => r.targetId).sort(), ['orders-db', 'users-db']);
    assert.equal((await bus.history()).length, 2);
    assert.equal((await queue.getJobSchedulers(0, -1)).length, 2);
  });

  test('two installations with their own TIDEMARK_NAMESPACE on one Redis keep each other’s schedules', async () => {
    await redis.flushdb();
    const blue = newQueue(queuePrefix({ TIDEMARK_NAMESPACE: 'blue' }));
    assert.equal(blue.opts.prefix, 'tidemark-blue');
    await newSync(config(['orders-db'])).sync();
    await newSync(config(['users-db']), blue).sync();
    await newSync(config(['orders-db'])).sync();
    assert.deepEqual(
      (await queue.getJobSchedulers(0, -1)).map((s) => s.key),
      ['target:orders-db'],
    );
    assert.deepEqual(
      (await blue.getJobSchedulers(0, -1)).map((s) => s.key),
      ['target:users-db'],
    );
  });
});
