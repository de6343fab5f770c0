import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Logger } from '@nestjs/common';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { EventPublisher, isEvent, RedisStreamEventBus, type TypedEvent } from '@tidemark/events';
import { manifestBlobName, type Manifest } from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import { validateConfig, type TidemarkConfig } from '@tidemark/policy';
import { RedisLock } from '@tidemark/queues';
import { AzureBlobStore, LocalTier, StorageError, type BlobStore } from '@tidemark/storage';
import { startAzurite, uniqueName, type AzuriteHandle } from '@tidemark/testing';
import {
  backupIdAt,
  blobsUnder,
  DAY_MS,
  seedLocal,
  seedManifest,
  seedRemote,
  type SeedBackup,
} from '@tidemark/testing-retention';
import { Redis } from 'ioredis';
import { RetentionPlanner } from './retention-plan';
import { RetentionRunError, RetentionService, RETENTION_LOCK_PURPOSE } from './retention.service';

const REDIS_URL = 'redis://127.0.0.1:6379/15';
const NOW = new Date('2026-11-21T12:00:00Z');

interface Simple {
  keepLast: number;
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
  failedGraceDays: number;
}

/**
 * The rules written out independently of the engine, for a UTC policy and tiering `{ initial: Hot,
 * coolAfterDays: 30 }`: GFS counts verified backups only, the newest backup of each of the latest N periods that
 * hold one; failed/corrupt stay for the grace period; in-progress and pinned always stay. A kept backup of 30 days
 * or more goes Cool unless it is expected to expire within Cool's 30-day minimum.
 */
function expectations(
  seeds: (SeedBackup & { backupId: string })[],
  r: Simple,
): Map<string, 'Hot' | 'Cool' | null> {
  const verified = seeds.filter((s) => s.status === 'verified').sort((a, b) => +b.takenAt - +a.takenAt);
  const until = new Map<string, number[]>();
  const keep = (id: string, t: number): void => {
    until.set(id, [...(until.get(id) ?? []), t]);
  };
  for (const s of seeds) if (s.pinned) keep(s.backupId, Infinity);
  if (verified[0]) keep(verified[0].backupId, Infinity);
  for (const s of verified.slice(0, r.keepLast)) keep(s.backupId, +s.takenAt + r.keepLast * DAY_MS);
  const periods: [number, (d: Date) => string, (d: Date) => number][] = [
    [r.daily, (d) => d.toISOString().slice(0, 10), (d) => +d + r.daily * DAY_MS],
    [r.weekly, isoWeek, (d) => +d + r.weekly * 7 * DAY_MS],
    [r.monthly, (d) => d.toISOString().slice(0, 7), (d) => addMonths(d, r.monthly)],
    [r.yearly, (d) => d.toISOString().slice(0, 4), (d) => addMonths(d, 12 * r.yearly)],
  ];
  for (const [count, key, end] of periods) {
    const seen = new Set<string>();
    for (const s of verified) {
      const k = key(s.takenAt);
      if (seen.has(k) || seen.size >= count) continue;
      seen.add(k);
      keep(s.backupId, end(s.takenAt));
    }
  }
  const kept = new Map<string, 'Hot' | 'Cool' | null>();
  for (const s of seeds) {
    const reasons = until.get(s.backupId) ?? [];
    const inProgress = s.status === 'uploaded' || s.status === 'dumped' || s.status === 'dumping';
    if ((s.status === 'failed' || s.status === 'corrupt') && +s.takenAt + r.failedGraceDays * DAY_MS >= +NOW)
      reasons.push(+s.takenAt + r.failedGraceDays * DAY_MS);
    if (reasons.length === 0 && !inProgress) continue;
    if (s.uploaded === false) {
      kept.set(s.backupId, null);
      continue;
    }
    const old = +NOW - +s.takenAt >= 30 * DAY_MS;
    const lastsMonth = Math.max(...reasons) - +NOW >= 30 * DAY_MS;
    kept.set(s.backupId, old && !inProgress && lastsMonth ? 'Cool' : 'Hot');
  }
  return kept;
}

function addMonths(d: Date, months: number): number {
  const x = new Date(d);
  x.setUTCMonth(x.getUTCMonth() + months);
  return +x;
}

function isoWeek(d: Date): string {
  const day = (d.getUTCDay() + 6) % 7;
  const thursday = new Date(
    Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) + (3 - day) * DAY_MS,
  );
  const jan1 = Date.UTC(thursday.getUTCFullYear(), 0, 1);
  return `${thursday.getUTCFullYear()}-W${String(Math.floor((+thursday - jan1) / (7 * DAY_MS)) + 1).padStart(2, '0')}`;
}

function configFor(targets: { id: string; policy: string }[]): TidemarkConfig {
  const policy = (remote: Simple) => ({
    schedule: '0 2 * * *',
    retention: { local: { days: 7 }, remote },
    tiering: { initial: 'Hot', coolAfterDays: 30 },
  });
  return validateConfig({
    policies: {
      simple: policy({ keepLast: 3, daily: 7, weekly: 4, monthly: 6, yearly: 2, failedGraceDays: 7 }),
      lean: policy({ keepLast: 2, daily: 3, weekly: 2, monthly: 3, yearly: 1, failedGraceDays: 3 }),
      last1: policy({ keepLast: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0, failedGraceDays: 0 }),
    },
    targets: targets.map((t) => ({ ...t, kind: 'postgres', url: 'postgres://x@h/db' })),
  });
}

const SIMPLE: Simple = { keepLast: 3, daily: 7, weekly: 4, monthly: 6, yearly: 2, failedGraceDays: 7 };
const LEAN: Simple = { keepLast: 2, daily: 3, weekly: 2, monthly: 3, yearly: 1, failedGraceDays: 3 };

describe('RetentionService (real Azurite and Redis)', () => {
  let azurite: AzuriteHandle;
  let redis: Redis;
  let bus: RedisStreamEventBus;
  let localRoot: string;

  before(async () => {
    Logger.overrideLogger(false);
    azurite = await startAzurite();
    redis = new Redis(REDIS_URL);
    bus = new RedisStreamEventBus(REDIS_URL, { stream: `tidemark:test:${uniqueName('events')}` });
    localRoot = await mkdtemp(join(tmpdir(), 'tidemark-retention-'));
  });

  after(async () => {
    await bus.close();
    await redis.quit();
    await azurite.stop();
    await rm(localRoot, { recursive: true, force: true });
  });

  interface Setup {
    store: AzureBlobStore;
    catalog: Catalog;
    manifests: ManifestStore;
    local: LocalTier;
    config: TidemarkConfig;
    metrics: TidemarkMetrics;
    service: (store?: BlobStore) => RetentionService;
  }

  async function setup(targets: { id: string; policy: string }[]): Promise<Setup> {
    const store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('retention'));
    await store.ensureContainer();
    const catalog = new Catalog(store);
    const local = new LocalTier(join(localRoot, uniqueName('local')));
    const config = configFor(targets);
    const metrics = new TidemarkMetrics('retention-test');
    const events = new EventPublisher(bus, 'retention');
    const service = (s: BlobStore = store): RetentionService => {
      const catalogOf = new Catalog(s);
      return new RetentionService(
        config,
        catalogOf,
        new ManifestStore(s, local),
        s,
        local,
        new RetentionPlanner(config, catalogOf, local),
        new RedisLock(redis, RETENTION_LOCK_PURPOSE, 60_000),
        events,
        metrics,
      );
    };
    return { store, catalog, manifests: new ManifestStore(store, local), local, config, metrics, service };
  }

  async function appliedEvents(targetId: string): Promise<TypedEvent<'tidemark.retention.applied'>[]> {
    return (await bus.history({ targetId, limit: 1000 }))
      .map((e) => e.event)
      .filter((e) => isEvent(e, 'tidemark.retention.applied'));
  }

  /** No artifact without its manifest, under a target. */
  async function assertNoOrphans(store: BlobStore, targetId: string): Promise<void> {
    const names = [...(await blobsUnder(store, `${targetId}/`)).keys()];
    for (const name of names) {
      if (name.endsWith('/manifest.json')) continue;
      const dir = name.slice(0, name.lastIndexOf('/') + 1);
      assert.ok(names.includes(`${dir}manifest.json`), `artifact ${name} has its manifest`);
    }
  }

  describe('400 days of backups of two targets', () => {
    let s: Setup;
    const a = uniqueName('alpha').slice(0, 30);
    const b = uniqueName('beta').slice(0, 30);
    const seeds = new Map<string, (SeedBackup & { backupId: string })[]>();
    let unparseable: string;
    const localCopies: string[] = [];
    let notUploadedLocal: string;
    let orphanLocal: string;

    before(async () => {
      s = await setup([
        { id: a, policy: 'simple' },
        { id: b, policy: 'lean' },
      ]);
      const today = Date.UTC(2026, 10, 21, 2, 0, 0);
      const seedsA: (SeedBackup & { backupId: string })[] = [];
      for (let day = 0; day < 400; day++) {
        const takenAt = new Date(today - day * DAY_MS);
        let seed: SeedBackup = { targetId: a, takenAt, status: 'verified', size: 1000 + day };
        if (day === 0) seed = { ...seed, status: 'uploaded' };
        else if (day === 2 || day === 40 || day === 41) seed = { ...seed, status: 'failed', uploaded: false };
        else if (day === 3 || day === 120) seed = { ...seed, status: 'corrupt' };
        else if (day === 10) seed = { ...seed, status: 'failed', uploaded: false };
        else if (day === 45 || day === 350) seed = { ...seed, pinned: true };
        else if (day === 44) seed = { ...seed, status: 'failed', pinned: true };
        seedsA.push({ ...seed, backupId: backupIdAt(takenAt) });
      }
      // Target B: a backup every other day at 04:30, all verified.
      const seedsB: (SeedBackup & { backupId: string })[] = [];
      for (let day = 1; day < 400; day += 2) {
        const takenAt = new Date(today + 2.5 * 3600_000 - day * DAY_MS);
        seedsB.push({ targetId: b, takenAt, status: 'verified', size: 500, backupId: backupIdAt(takenAt) });
      }
      seeds.set(a, seedsA);
      seeds.set(b, seedsB);
      const manifests = [...seedsA, ...seedsB].map((x) => seedManifest(s.store.container, x, x.backupId));
      await seedRemote(s.store, s.manifests, manifests);

      // An unparseable manifest (not even JSON) beside an artifact: never to be touched.
      const badId = backupIdAt(new Date(today - 300 * DAY_MS), 'broken');
      unparseable = manifestBlobName(a, badId);
      await s.store.writeJson(`${a}/${badId}/dump.pgc.zst`, { artifactOf: badId }, 'overwrite');
      // Bytes that are not JSON at all (writeJson would only ever write JSON).
      await s.store.stageBlock(unparseable, Buffer.from('b0').toString('base64'), Buffer.from('{ broken'));
      await s.store.commitBlocks(unparseable, [Buffer.from('b0').toString('base64')], {
        metadata: {},
        tags: {},
        tier: 'Hot',
      });

      // The local tier holds the last 12 days of target A, plus two copies that never reached Blob Storage.
      for (const x of seedsA.slice(0, 13)) {
        if (x.uploaded === false) continue;
        await seedLocal(s.local, seedManifest(s.store.container, x, x.backupId));
        localCopies.push(x.backupId);
      }
      const day10 = seedsA[10] as SeedBackup & { backupId: string };
      notUploadedLocal = day10.backupId;
      await seedLocal(s.local, seedManifest(s.store.container, day10, day10.backupId));
      const orphanAt = new Date(today - 9 * DAY_MS + 3600_000);
      orphanLocal = backupIdAt(orphanAt, 'nocopy');
      await seedLocal(
        s.local,
        seedManifest(
          s.store.container,
          { targetId: a, takenAt: orphanAt, status: 'dumped', uploaded: false },
          orphanLocal,
        ),
      );
    });

    test('plan reports the unparseable manifest and changes nothing', async () => {
      const before = await blobsUnder(s.store, `${a}/`);
      const view = await s.service().plan(a, NOW);
      assert.deepEqual(
        view.unreadable.map((u) => u.blobName),
        [unparseable],
      );
      assert.equal(view.backups.length, 400);
      assert.deepEqual(await blobsUnder(s.store, `${a}/`), before);
    });

    test('dry run reports what apply will do, changes nothing and publishes nothing', async () => {
      const before = await blobsUnder(s.store, '');
      const report = await s.service().apply(a, { now: NOW, dryRun: true });
      assert.equal(report.dryRun, true);
      assert.ok(report.deleted.length > 300);
      assert.deepEqual(await blobsUnder(s.store, ''), before);
      assert.deepEqual(await appliedEvents(a), []);
      assert.equal((await readdir(join(s.local.root, a))).length, localCopies.length + 2);
    });

    test('apply leaves exactly what the rules keep, in the right tiers, per target', async () => {
      const dry = await s.service().apply(a, { now: NOW, dryRun: true });
      const reports = await s.service().applyAll({ now: NOW });
      assert.deepEqual(
        reports.map((r) => r.targetId),
        [a, b],
      );
      const [ra, rb] = reports as [typeof dry, typeof dry];
      assert.deepEqual(ra.deleted, dry.deleted, 'the dry run said the same');
      assert.deepEqual(ra.tiered, dry.tiered);

      for (const [targetId, policy] of [
        [a, SIMPLE],
        [b, LEAN],
      ] as const) {
        const expected = expectations(seeds.get(targetId) ?? [], policy);
        const want = new Map<string, string | undefined>();
        for (const [id, tier] of expected) {
          want.set(`${targetId}/${id}/manifest.json`, 'Hot');
          if (tier) want.set(`${targetId}/${id}/dump.pgc.zst`, tier);
        }
        if (targetId === a) {
          want.set(unparseable, 'Hot');
          want.set(unparseable.replace('manifest.json', 'dump.pgc.zst'), 'Hot');
        }
        const left = await blobsUnder(s.store, `${targetId}/`);
        assert.deepEqual(
          [...left.keys()],
          [...want.keys()].sort((x, y) => x.localeCompare(y)),
          `blobs left of ${targetId}`,
        );
        for (const [name, tier] of want) assert.equal(left.get(name), tier, `tier of ${name}`);
        // Manifests follow their blobs: tier and a fresh tier clock.
        for (const [id, tier] of expected) {
          const m = (await s.catalog.find(id, targetId))?.manifest as Manifest;
          assert.equal(m.locations.remote?.tier ?? null, tier);
          if (tier === 'Cool') assert.equal(m.locations.remote?.tierSince, NOW.toISOString());
          assert.equal(m.deletion, null);
        }
        const report = targetId === a ? ra : rb;
        assert.equal(report.kept, expected.size);
        assert.equal(report.deleted.length, (seeds.get(targetId)?.length ?? 0) - expected.size);
        const cool = [...expected.values()].filter((t) => t === 'Cool').length;
        assert.equal(report.tiered.length, cool);
        assert.ok(cool > 0, 'some backups moved to Cool');
        const sizeOf = (id: string): number => {
          const seed = seeds.get(targetId)?.find((x) => x.backupId === id);
          return seed?.uploaded === false ? 0 : (seed?.size ?? 1000);
        };
        const bytes = { Hot: 0, Cool: 0, Cold: 0, Archive: 0 };
        for (const [id, tier] of expected) if (tier) bytes[tier] += sizeOf(id);
        assert.deepEqual(report.bytesPerTier, bytes);
        assert.equal(
          report.bytesFreed,
          report.deleted.reduce((n, id) => n + sizeOf(id), 0),
        );
        const metrics = await s.metrics.metricsText();
        assert.match(
          metrics,
          new RegExp(
            `tidemark_storage_bytes\\{[^}]*target="${targetId}",tier="Cool"[^}]*\\} ${bytes.Cool}\\b`,
          ),
        );
        assert.match(
          metrics,
          new RegExp(
            `tidemark_retention_deleted_total\\{[^}]*target="${targetId}",location="remote"[^}]*\\} ${report.deleted.length}\\b`,
          ),
        );

        const [event, ...more] = await appliedEvents(targetId);
        assert.ok(event);
        assert.equal(more.length, 0);
        assert.equal(event.severity, 'info');
        assert.deepEqual(event.data.counts, {
          kept: expected.size,
          deleted: report.deleted.length,
          resumed: 0,
          tiered: cool,
          localRemoved: targetId === a ? ra.local.removed.length : 0,
          localKept: targetId === a ? 2 : 0,
          unreadable: targetId === a ? 1 : 0,
          failed: 0,
        });
        assert.equal(event.data.bytesFreed, report.bytesFreed);
        assert.deepEqual(event.data.bytesPerTier, bytes);
      }

      // The unparseable manifest is reported and left alone.
      assert.deepEqual(
        ra.unreadable.map((u) => u.blobName),
        [unparseable],
      );
      // Local tier: copies older than 7 days go once verified remotely; copies never uploaded stay and are reported.
      const localLeft = (await readdir(join(s.local.root, a))).sort();
      const verifiedRecent = (seeds.get(a) ?? []).filter(
        (x) => +NOW - +x.takenAt <= 7 * DAY_MS && localCopies.includes(x.backupId),
      );
      assert.deepEqual(
        localLeft,
        [...verifiedRecent.map((x) => x.backupId), notUploadedLocal, orphanLocal].sort(),
      );
      assert.deepEqual(ra.local.removed.sort(), localCopies.filter((id) => !localLeft.includes(id)).sort());
      assert.deepEqual(
        ra.local.kept.map((k) => [k.backupId, k.reason]).sort(),
        [
          [notUploadedLocal, 'never reached Blob Storage'],
          [orphanLocal, 'never reached Blob Storage'],
        ].sort(),
      );
    });

    test('applying again changes nothing', async () => {
      const blobs = await blobsUnder(s.store, '');
      const localLeft = await readdir(join(s.local.root, a));
      for (const targetId of [a, b]) {
        const report = await s.service().apply(targetId, { now: NOW });
        assert.deepEqual(report.deleted, []);
        assert.deepEqual(report.tiered, []);
        assert.deepEqual(report.local.removed, []);
      }
      assert.deepEqual(await blobsUnder(s.store, ''), blobs);
      assert.deepEqual(await readdir(join(s.local.root, a)), localLeft);
    });
  });

  /** Three verified backups of a `keepLast: 1` target: the two older ones go. */
  async function threeBackups(targetId: string, st: Setup): Promise<string[]> {
    const ids: string[] = [];
    const manifests: Manifest[] = [];
    for (const day of [3, 2, 1]) {
      const takenAt = new Date(NOW.getTime() - day * DAY_MS);
      const id = backupIdAt(takenAt);
      ids.push(id);
      manifests.push(seedManifest(st.store.container, { targetId, takenAt, status: 'verified' }, id));
    }
    await seedRemote(st.store, st.manifests, manifests);
    return ids;
  }

  test('an artifact delete that fails midway: the run fails, the mark stays, the next run finishes it', async () => {
    const t = uniqueName('crash').slice(0, 30);
    const st = await setup([{ id: t, policy: 'last1' }]);
    const [first, second, newest] = await threeBackups(t, st);
    let failed = false;
    // Checked after every delete: at no point is there an artifact without its manifest.
    const orphans: unknown[] = [];
    const flaky = Object.create(st.store) as AzureBlobStore;
    flaky.deleteMany = async (names) => {
      // The oldest backup's artifact, whatever order the deletions are batched in.
      const victim = `${t}/${first}/dump.pgc.zst`;
      const failures = await st.store.deleteMany(failed ? names : names.filter((name) => name !== victim));
      if (!failed && names.includes(victim)) {
        failed = true;
        failures.set(victim, new StorageError('unavailable', `delete ${victim}: the service is unavailable`));
      }
      await assertNoOrphans(st.store, t).catch((error: unknown) => orphans.push(error));
      return failures;
    };
    await assert.rejects(st.service(flaky).apply(t, { now: NOW }), (e: unknown) => {
      assert.ok(e instanceof RetentionRunError);
      assert.deepEqual(
        e.report.failures.map((f) => [f.backupId, f.step]),
        [[first, 'delete-artifact']],
      );
      assert.deepEqual(e.report.deleted, [second], 'the other deletion went ahead');
      return true;
    });
    assert.deepEqual(orphans, []);
    const marked = (await st.catalog.find(first as string, t))?.manifest;
    assert.equal(marked?.deletion?.at, NOW.toISOString());
    assert.match(marked.deletion.reason, /expired/);
    assert.equal((await st.service().plan(t, NOW)).backups[0]?.status, 'deleting');
    const [warning] = await appliedEvents(t);
    assert.equal(warning?.severity, 'warning');

    const later = new Date(NOW.getTime() + 3600_000);
    const report = await st.service(flaky).apply(t, { now: later });
    assert.deepEqual(report.resumed, [first]);
    assert.deepEqual(report.deleted, [first]);
    assert.deepEqual(orphans, []);
    assert.deepEqual(
      [...(await blobsUnder(st.store, `${t}/`)).keys()],
      [`${t}/${newest}/dump.pgc.zst`, `${t}/${newest}/manifest.json`],
    );
  });

  test('a failed tier move is reported, the manifest keeps its tier, and the next run moves it', async () => {
    const t = uniqueName('tier').slice(0, 30);
    const st = await setup([{ id: t, policy: 'simple' }]);
    // Pinned and 40 days old: due for Cool and kept for ever.
    const takenAt = new Date(NOW.getTime() - 40 * DAY_MS);
    const id = backupIdAt(takenAt);
    await seedRemote(st.store, st.manifests, [
      seedManifest(st.store.container, { targetId: t, takenAt, status: 'verified', pinned: true }, id),
    ]);
    const broken = Object.create(st.store) as AzureBlobStore;
    broken.setTier = () => Promise.reject(new StorageError('auth', 'set tier: access denied'));
    await assert.rejects(st.service(broken).apply(t, { now: NOW }), (e: unknown) => {
      assert.ok(e instanceof RetentionRunError);
      assert.deepEqual(e.report.failures, [
        { backupId: id, step: 'tier', message: 'set tier: access denied' },
      ]);
      return true;
    });
    assert.equal((await st.catalog.find(id, t))?.manifest.locations.remote?.tier, 'Hot');
    const report = await st.service().apply(t, { now: NOW });
    assert.deepEqual(report.tiered, [{ backupId: id, from: 'Hot', to: 'Cool' }]);
    assert.equal((await st.store.properties(`${t}/${id}/dump.pgc.zst`))?.tier, 'Cool');
  });

  test('two services applying one target at once: one skips, nothing is deleted twice, no error', async () => {
    const t = uniqueName('race').slice(0, 30);
    const st = await setup([{ id: t, policy: 'last1' }]);
    const [first, second, newest] = await threeBackups(t, st);
    const deletes: string[] = [];
    const slow = Object.create(st.store) as AzureBlobStore;
    slow.deleteMany = async (names) => {
      deletes.push(...names);
      await new Promise((resolve) => setTimeout(resolve, 150));
      return st.store.deleteMany(names);
    };
    const reports = await Promise.all([
      st.service(slow).apply(t, { now: NOW }),
      st.service(slow).apply(t, { now: NOW }),
    ]);
    const skipped = reports.filter((r) => r.skipped);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]?.skipped?.reason ?? '', /another run holds the target/);
    assert.deepEqual(reports.find((r) => !r.skipped)?.deleted, [first, second]);
    assert.equal(deletes.length, 4, 'each artifact and manifest deleted once');
    assert.equal(new Set(deletes).size, 4);
    assert.deepEqual(
      [...(await blobsUnder(st.store, `${t}/`)).keys()],
      [`${t}/${newest}/dump.pgc.zst`, `${t}/${newest}/manifest.json`],
    );
    assert.equal(await redis.get(`tidemark:lock:retention:${t}`), null, 'the lock is released');
  });

  test('a backup pinned after the plan was made is not deleted', async () => {
    const t = uniqueName('pin').slice(0, 30);
    const st = await setup([{ id: t, policy: 'last1' }]);
    const [first, second] = await threeBackups(t, st);
    // The pin lands between the listing and the mark (another writer, e.g. `tidemark pin`).
    let pinned = false;
    const racing = Object.create(st.store) as AzureBlobStore;
    racing.writeJson = async (name, value, condition) => {
      if (!pinned && name.includes(first as string)) {
        pinned = true;
        await st.manifests.update(t, first as string, (m) => ({ ...m, pinned: true }));
      }
      return st.store.writeJson(name, value, condition);
    };
    const report = await st.service(racing).apply(t, { now: NOW });
    assert.deepEqual(report.deleted, [second]);
    const kept = (await st.catalog.find(first as string, t))?.manifest;
    assert.equal(kept?.pinned, true);
    assert.equal(kept.deletion, null);
    assert.ok(await st.store.properties(`${t}/${first}/dump.pgc.zst`));
  });

  test('an unknown target is a clear error; a held lock is reported as a skipped run', async () => {
    const t = uniqueName('held').slice(0, 30);
    const st = await setup([{ id: t, policy: 'last1' }]);
    await assert.rejects(st.service().apply('nope', { now: NOW }), /unknown target "nope"/);
    await redis.set(`tidemark:lock:retention:${t}`, 'someone', 'PX', 10_000);
    const report = await st.service().apply(t, { now: NOW });
    assert.deepEqual(report.skipped, { reason: 'another run holds the target', holder: 'someone' });
    assert.deepEqual(await appliedEvents(t), [], 'a skipped run publishes nothing');
    await redis.del(`tidemark:lock:retention:${t}`);
  });
});
