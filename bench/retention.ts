/**
 * Time to plan and to apply retention for one target with 10,000 backups (hourly backups over ~14 months),
 * manifests and small artifact blobs in a local Azurite. Run by hand (not a test):
 *   node -r ./tools/register.js bench/retention.ts [--backups 10000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { EventPublisher, RedisStreamEventBus } from '@tidemark/events';
import { TidemarkMetrics } from '@tidemark/observability';
import { validateConfig } from '@tidemark/policy';
import { RedisLock } from '@tidemark/queues';
import { RETENTION_LOCK_PURPOSE, RetentionPlanner, RetentionService } from '@tidemark/retention';
import { AzureBlobStore, LocalTier } from '@tidemark/storage';
import { startAzurite } from '@tidemark/testing';
import { backupIdAt, seedManifest, seedRemote } from '@tidemark/testing-retention';
import { Redis } from 'ioredis';

const REDIS_URL = 'redis://127.0.0.1:6379/15';
const flag = process.argv.indexOf('--backups');
const count = flag > 0 ? Number(process.argv[flag + 1]) : 10_000;
const NOW = new Date('2026-11-21T12:00:00Z');

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await fn();
  console.log(`${what}: ${((performance.now() - started) / 1000).toFixed(2)} s`);
  return result;
}

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-bench-retention-'));
  const azurite = await startAzurite({ location: join(dir, 'azurite') });
  const redis = new Redis(REDIS_URL);
  const bus = new RedisStreamEventBus(REDIS_URL, { stream: 'tidemark:bench:retention' });
  try {
    const store = AzureBlobStore.fromConnectionString(azurite.connectionString, 'bench-retention');
    await store.ensureContainer();
    const catalog = new Catalog(store);
    const config = validateConfig({
      policies: {
        hourly: {
          schedule: '0 * * * *',
          retention: { remote: { keepLast: 24, daily: 7, weekly: 4, monthly: 12, yearly: 3 } },
          tiering: { initial: 'Hot', coolAfterDays: 30, archiveAfterDays: 90 },
        },
      },
      targets: [{ id: 'bench-db', kind: 'postgres', url: 'postgres://x@h/db', policy: 'hourly' }],
    });
    const local = new LocalTier(join(dir, 'local'));
    const manifestStore = new ManifestStore(store, local);
    const service = new RetentionService(
      config,
      catalog,
      manifestStore,
      store,
      local,
      new RetentionPlanner(config, catalog, local),
      new RedisLock(redis, RETENTION_LOCK_PURPOSE, 300_000),
      new EventPublisher(bus, 'bench'),
      new TidemarkMetrics('bench'),
    );
    const manifests = Array.from({ length: count }, (_, i) => {
      const takenAt = new Date(NOW.getTime() - (i + 1) * 3600_000);
      return seedManifest(
        store.container,
        { targetId: 'bench-db', takenAt, status: 'verified' },
        backupIdAt(takenAt),
      );
    });
    await timed(`seed ${count} manifests + artifacts`, () => seedRemote(store, manifestStore, manifests, 64));
    const plan = await timed('plan', () => service.plan('bench-db', NOW));
    const deletes = plan.backups.filter((b) => b.action === 'delete').length;
    const moves = plan.backups.filter((b) => b.tierMove).length;
    console.log(`  plan: ${plan.backups.length - deletes} keep, ${deletes} delete, ${moves} tier moves`);
    const dry = await timed('apply --dry-run', () => service.apply('bench-db', { now: NOW, dryRun: true }));
    console.log(`  dry run: ${dry.deleted.length} would be deleted`);
    const report = await timed('apply', () => service.apply('bench-db', { now: NOW }));
    console.log(
      `  apply: ${report.deleted.length} deleted, ${report.tiered.length} tiered, ${report.failures.length} failures`,
    );
    await timed('apply again (nothing to do)', () => service.apply('bench-db', { now: NOW }));
  } finally {
    await bus.close();
    await redis.quit();
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
