import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import type { LoadedConfig } from '@tidemark/config';
import { EventPublisher, RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { newBackupId, newManifest, type BackupStatus, type Manifest } from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import { TargetLock } from '@tidemark/pipeline';
import { validateConfig } from '@tidemark/policy';
import { QUEUE_PREFIX } from '@tidemark/queues';
import { AzureBlobStore, LocalTier } from '@tidemark/storage';
import { startAzurite, uniqueName, type AzuriteHandle } from '@tidemark/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { CatalogGauges } from './catalog-gauges.service';
import { RpoWatchdog, watchdogStateKey } from './rpo-watchdog.service';

const REDIS_URL = 'redis://127.0.0.1:6379/7';
const QUEUE_NAMES = ['schedule', 'dump', 'upload', 'verify', 'retention'] as const;

function config(targets: { id: string; policy: 'daily' | 'hourly' }[]): LoadedConfig {
  return {
    ...validateConfig({
      policies: {
        daily: { schedule: '0 2 * * *', timezone: 'UTC', rpoHours: 25 },
        hourly: { schedule: '0 * * * *', timezone: 'UTC', rpoHours: 24 },
      },
      targets: targets.map((t) => ({ ...t, kind: 'postgres', url: 'postgres://x@h/db' })),
    }),
    source: '/tmp/tidemark.yaml',
  };
}

function manifest(targetId: string, startedAt: string, status: BackupStatus): Manifest {
  const at = new Date(startedAt);
  const m = newManifest({
    backupId: newBackupId(at),
    target: { id: targetId, kind: 'postgres', database: 'db', serverVersion: '16.2' },
    policy: 'daily',
    trigger: 'schedule',
    requestedAt: at,
    startedAt: at,
    format: {
      format: 'pg_dump-custom',
      extension: 'pgc',
      restoreCommand: 'pg_restore --no-owner -d <database>',
    },
    compression: 'zstd',
    localPath: '/x',
    dumpAttempt: 1,
    tool: { name: 'tidemark', version: '0', hostname: 'h', dumpTool: null },
  });
  return status === 'verified'
    ? {
        ...m,
        status,
        timestamps: { ...m.timestamps, verifiedAt: new Date(at.getTime() + 60_000).toISOString() },
      }
    : { ...m, status };
}

describe('RpoWatchdog (real Redis and Azurite, injected clock)', () => {
  let azurite: AzuriteHandle;
  let catalog: Catalog;
  let manifests: ManifestStore;
  let redis: Redis;
  let bus: RedisStreamEventBus;
  let queues: Queue[];
  let localRoot: string;
  let clock: Date;

  const watchdog = (
    cfg: LoadedConfig,
    metrics = new TidemarkMetrics('scheduler'),
  ): { watchdog: RpoWatchdog; metrics: TidemarkMetrics } => {
    const [schedule, dump, upload, verify, retention] = queues as [Queue, Queue, Queue, Queue, Queue];
    const gauges = new CatalogGauges(cfg, catalog, metrics, schedule, dump, upload, verify, retention);
    return {
      metrics,
      watchdog: new RpoWatchdog(
        cfg,
        gauges,
        new EventPublisher(bus, 'scheduler'),
        redis,
        new LocalTier(localRoot),
        new TargetLock(redis),
        { now: () => clock, graceMs: 15 * 60_000, snapshotMaxAgeMs: 0, lockTtlMs: 10_000 },
      ),
    };
  };

  const overdueEvents = async (targetId: string): Promise<TidemarkEvent[]> =>
    (await bus.history({ targetId })).map((s) => s.event).filter((e) => e.type === 'tidemark.backup.overdue');

  before(async () => {
    azurite = await startAzurite();
    const store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('watchdog'));
    await store.ensureContainer();
    catalog = new Catalog(store);
    // Only remote copies are written: the local tier is never touched.
    manifests = new ManifestStore(store, new LocalTier(tmpdir()));
    redis = new Redis(REDIS_URL);
    await redis.flushdb();
    bus = new RedisStreamEventBus(REDIS_URL);
    queues = QUEUE_NAMES.map(
      (name) => new Queue(name, { connection: { url: REDIS_URL }, prefix: QUEUE_PREFIX }),
    );
    localRoot = await mkdtemp(join(tmpdir(), 'tidemark-watchdog-'));
  });

  after(async () => {
    await Promise.all(queues.map((q) => q.close()));
    await bus.close();
    await redis.quit();
    await azurite.stop();
    await rm(localRoot, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await redis.del(watchdogStateKey());
  });

  test('ok → warning at the RPO → critical at twice the RPO → recovered, one event per change', async () => {
    const cfg = config([{ id: 'rpo-db', policy: 'daily' }]);
    await manifests.create(manifest('rpo-db', '2026-03-10T02:00:05Z', 'verified'));
    const { watchdog: dog, metrics } = watchdog(cfg);

    clock = new Date('2026-03-10T12:00:00Z');
    assert.deepEqual(await dog.evaluate(), [], 'a 10 h old backup is within a 25 h RPO');
    const age = await metrics.backupAge.get();
    assert.equal(age.values[0]?.value, 10 * 3600 - 5, 'the gauges come from the same catalog read');

    clock = new Date('2026-03-11T03:30:00Z');
    const [warning, ...rest] = await dog.evaluate();
    assert.equal(rest.length, 0);
    assert.equal(warning?.severity, 'warning');
    assert.equal(warning.subject, 'rpo-db', 'subject is the target alone: no backup is concerned');
    assert.equal(warning.data.backupId, undefined);
    assert.equal(warning.data.reason, 'rpo-exceeded');
    assert.equal(warning.data.level, 'warning');
    assert.equal(warning.data.rpoHours, 25);
    assert.equal(warning.data.ageSeconds, 25.5 * 3600 - 5);
    assert.equal(warning.data.lastVerifiedBackupId, (await catalog.list('rpo-db')).manifests[0]?.backupId);

    clock = new Date('2026-03-11T09:00:00Z');
    assert.deepEqual(await dog.evaluate(), [], 'still warning: nothing new to say');

    clock = new Date('2026-03-12T04:30:00Z');
    const critical = await dog.evaluate();
    assert.deepEqual(
      critical.map((e) => [e.severity, e.data.level, e.data.reason]),
      [['critical', 'critical', 'rpo-exceeded']],
    );
    assert.deepEqual(await dog.evaluate(), []);

    const fresh = manifest('rpo-db', '2026-03-12T04:00:00Z', 'verified');
    await manifests.create(fresh);
    const recovered = await dog.evaluate();
    assert.equal(recovered.length, 1);
    assert.equal(recovered[0]?.type, 'tidemark.backup.overdue');
    assert.equal(recovered[0].severity, 'info');
    assert.equal(recovered[0].data.recovered, true);
    assert.equal(recovered[0].data.level, 'ok');
    assert.equal(recovered[0].data.lastVerifiedBackupId, fresh.backupId);
    assert.equal(recovered[0].data.ageSeconds, 30 * 60);
    assert.deepEqual(await dog.evaluate(), []);

    assert.deepEqual(
      (await overdueEvents('rpo-db')).map((e) => e.severity),
      ['warning', 'critical', 'info'],
      'exactly one published event per change of state',
    );
  });

  test('the state survives a restart: a new watchdog does not alert again', async () => {
    const cfg = config([{ id: 'restart-db', policy: 'daily' }]);
    await manifests.create(manifest('restart-db', '2026-03-01T02:00:00Z', 'verified'));
    clock = new Date('2026-03-01T12:00:00Z');
    assert.deepEqual(await watchdog(cfg).watchdog.evaluate(), []);
    clock = new Date('2026-03-02T04:00:00Z');
    assert.equal((await watchdog(cfg).watchdog.evaluate()).length, 1, 'warning');
    assert.deepEqual(await watchdog(cfg).watchdog.evaluate(), [], 'after a "restart": no second warning');
    assert.equal((await overdueEvents('restart-db')).length, 1);
  });

  test('a scheduled run that started no backup is a missed schedule, until a backup starts', async () => {
    const cfg = config([{ id: 'hourly-db', policy: 'hourly' }]);
    await manifests.create(manifest('hourly-db', '2026-04-01T10:00:01Z', 'verified'));
    const { watchdog: dog } = watchdog(cfg);

    clock = new Date('2026-04-01T10:30:00Z');
    assert.deepEqual(await dog.evaluate(), [], 'first look: the 10:00 run started a backup');
    clock = new Date('2026-04-01T11:10:00Z');
    assert.deepEqual(await dog.evaluate(), [], 'the 11:00 run is still within its grace');

    clock = new Date('2026-04-01T11:20:00Z');
    const [missed, ...rest] = await dog.evaluate();
    assert.equal(rest.length, 0);
    assert.equal(missed?.severity, 'warning');
    assert.equal(missed.data.reason, 'missed-schedule');
    assert.equal(missed.data.missedRunAt, '2026-04-01T11:00:00.000Z');
    assert.equal(missed.data.ageSeconds, 80 * 60 - 1, 'well within the RPO');

    // A backup that is dumping right now (it holds the target's dump lock) answers the run.
    const dumpLock = new TargetLock(redis);
    const running = newBackupId(new Date('2026-04-01T11:21:00Z'));
    await dumpLock.acquire('hourly-db', running);
    clock = new Date('2026-04-01T11:22:00Z');
    const [recovered] = await dog.evaluate();
    assert.equal(recovered?.severity, 'info');
    assert.equal(recovered.data.recovered, true);
    assert.equal(recovered.data.reason, 'missed-schedule');
    await dumpLock.release('hourly-db', running);

    // Its manifest, failed, still proves the 12:00 run happened; the 13:00 run that started nothing does not.
    await manifests.create(manifest('hourly-db', '2026-04-01T12:00:02Z', 'failed'));
    clock = new Date('2026-04-01T12:30:00Z');
    assert.deepEqual(await dog.evaluate(), []);
    clock = new Date('2026-04-01T13:16:00Z');
    assert.deepEqual(
      (await dog.evaluate()).map((e) => [e.severity, e.data.reason]),
      [['warning', 'missed-schedule']],
    );
    assert.deepEqual(
      (await overdueEvents('hourly-db')).map((e) => e.severity),
      ['warning', 'info', 'warning'],
    );
  });

  test('two watchdogs at once (two scheduler replicas): one event per change', async () => {
    const cfg = config([
      { id: 'twin-a', policy: 'daily' },
      { id: 'twin-b', policy: 'daily' },
    ]);
    await manifests.create(manifest('twin-a', '2026-05-01T02:00:00Z', 'verified'));
    await manifests.create(manifest('twin-b', '2026-05-01T02:00:00Z', 'verified'));
    const one = watchdog(cfg).watchdog;
    const two = watchdog(cfg).watchdog;

    clock = new Date('2026-05-01T03:00:00Z');
    await Promise.all([one.evaluate(), two.evaluate()]);
    for (const at of ['2026-05-02T04:00:00Z', '2026-05-03T05:00:00Z']) {
      clock = new Date(at);
      const raised = (await Promise.all([one.evaluate(), two.evaluate(), one.evaluate()])).flat();
      assert.equal(raised.length, 2, `one event per target at ${at}`);
    }
    for (const target of ['twin-a', 'twin-b'])
      assert.deepEqual(
        (await overdueEvents(target)).map((e) => e.severity),
        ['warning', 'critical'],
      );
  });
});
