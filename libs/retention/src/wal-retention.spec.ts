import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Logger } from '@nestjs/common';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { EventPublisher } from '@tidemark/events';
import { MemoryBlobStore, MemoryEventBus, MemoryLock } from '@tidemark/in-memory';
import { TidemarkMetrics } from '@tidemark/observability';
import { validateConfig, type TidemarkConfig } from '@tidemark/policy';
import { sourceKinds } from '@tidemark/source-kinds';
import { LocalTier, StorageError, type BlobStore } from '@tidemark/storage';
import { DAY_MS, seedBaseManifest, seedRemote, WalSeeder, type SeedBase } from '@tidemark/testing-retention';
import { historyBlobName, partialBlobName, segmentBlobName, segmentFileName, walPrefix } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { readRecoveryWindow } from './recovery-window';
import { RetentionPlanner, type RetentionPlanView } from './retention-plan';
import { RetentionRunError, RetentionService } from './retention.service';

const NOW = new Date('2026-12-03T12:00:00.000Z');
const HOUR_MS = 3600_000;
/** Base backup i is taken at 02:00, 19 - i days before NOW's day; ten segments fill per day. */
const BASES = 20;
const FIRST_BASE = NOW.getTime() - 19 * DAY_MS - 10 * HOUR_MS;
const SEGMENT_MS = DAY_MS / 10;
const WINDOW_START = NOW.getTime() - 7 * DAY_MS;

const baseAt = (i: number) => new Date(FIRST_BASE + i * DAY_MS);
/** Segment s is complete a minute before the next one starts filling. */
const segmentReceivedAt = (s: number) => new Date(FIRST_BASE + (s + 1) * SEGMENT_MS - 60_000);
const seg = (s: number, timeline = 1) => segmentFileName({ timeline, segno: BigInt(s) });

function configFor(targetId: string, tiering: Record<string, unknown> = { initial: 'Hot' }): TidemarkConfig {
  return validateConfig(
    {
      policies: {
        physical: {
          schedule: '0 2 * * *',
          retention: {
            local: { days: 7 },
            remote: { keepLast: 3, daily: 0, weekly: 0, monthly: 0, yearly: 0, failedGraceDays: 2 },
          },
          tiering,
        },
      },
      targets: [
        {
          id: targetId,
          kind: 'postgres',
          method: 'physical',
          url: 'postgres://tidemark_backup@db/postgres',
          policy: 'physical',
          pitr: { windowDays: 7 },
        },
      ],
    },
    undefined,
    { kinds: sourceKinds() },
  );
}

interface World {
  store: MemoryBlobStore;
  targetId: string;
  config: TidemarkConfig;
  local: LocalTier;
  ids: string[];
  metrics: TidemarkMetrics;
  service: (store?: BlobStore) => RetentionService;
  planner: (store?: BlobStore) => RetentionPlanner;
}

let dir: string;
before(async () => {
  Logger.overrideLogger(false);
  dir = await mkdtemp(join(tmpdir(), 'wal-retention-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Twenty daily base backups (the newest three kept by `keepLast: 3`), base 3 pinned, 200 archived segments (base i
 * starts and stops in segment 10·i), a partial of the last complete segment (left behind) and one of the segment
 * being filled.
 */
async function world(tiering?: Record<string, unknown>, name = 'orders'): Promise<World> {
  const store = new MemoryBlobStore('c');
  const targetId = `${name}-${String(Math.random()).slice(2, 8)}`;
  const config = configFor(targetId, tiering);
  const local = new LocalTier(await mkdtemp(join(dir, 'local-')));
  const seeds: SeedBase[] = [];
  for (let i = 0; i < BASES; i++) {
    seeds.push({ targetId, takenAt: baseAt(i), status: 'verified', startSegno: 10 * i, pinned: i === 3 });
  }
  const manifests = seeds.map((seed) => seedBaseManifest(store.container, seed));
  await seedRemote(store, new ManifestStore(store, local), manifests);
  const wal = new WalSeeder(new WalArchive(store), targetId, dir);
  for (let s = 0; s < 10 * BASES; s++) await wal.segment(s, segmentReceivedAt(s));
  await wal.partial(199, segmentReceivedAt(199));
  await wal.partial(200, new Date(NOW.getTime() - 30_000));
  const metrics = new TidemarkMetrics('retention-wal-test');
  const planner = (s: BlobStore = store) => new RetentionPlanner(config, new Catalog(s), local, s);
  const service = (s: BlobStore = store) =>
    new RetentionService(
      config,
      new Catalog(s),
      new ManifestStore(s, local),
      s,
      local,
      planner(s),
      Object.assign(new MemoryLock(), { ttlMs: 60_000 }),
      new EventPublisher(new MemoryEventBus(), 'retention'),
      metrics,
    );
  return { store, targetId, config, local, metrics, ids: manifests.map((m) => m.backupId), service, planner };
}

function walNames(store: MemoryBlobStore, targetId: string): string[] {
  return store.names().filter((name) => name.startsWith(walPrefix(targetId)));
}

function segmentBlob(w: World, s: number): string {
  return segmentBlobName(w.targetId, 1, seg(s));
}

/** A store whose delete of the named blobs fails (as an outage would), everything else as `inner`. */
function failingDeletes(inner: BlobStore, fail: (name: string) => boolean): BlobStore {
  const store = Object.create(inner) as BlobStore;
  store.delete = (name, options) =>
    fail(name)
      ? Promise.reject(new StorageError('unavailable', `delete ${name}: unavailable`))
      : inner.delete(name, options);
  return store;
}

function reasonsOf(plan: RetentionPlanView, file: string): string[] {
  const range = plan.wal?.ranges.find((r) => r.kind === 'segment' && r.first <= file && file <= r.last);
  return range?.reasons ?? [];
}

describe('retention of a physical target: base backups and their WAL', () => {
  test('the plan keeps the base covering the window start, the WAL from it on, and the pinned base’s range', async () => {
    const w = await world();
    const plan = await w.planner().plan(w.targetId, NOW);
    const keptIds = plan.backups.filter((b) => b.action === 'keep').map((b) => b.backupId);
    // Base 12 ended 7 d 10 h ago: the newest base that ended before the window's start; GFS alone would drop it.
    assert.deepEqual(keptIds, [w.ids[3], w.ids[12], w.ids[17], w.ids[18], w.ids[19]]);
    assert.deepEqual(plan.backups[12]?.reasons, ['covers the start of the 7-day PITR window']);
    assert.deepEqual(plan.backups[3]?.reasons, ['pinned']);

    const wal = plan.wal;
    assert.ok(wal);
    assert.equal(wal.windowStart, new Date(WINDOW_START).toISOString());
    assert.deepEqual(reasonsOf(plan, seg(30)), [`pinned base ${w.ids[3]}`]);
    // Segments 120..121 were received before the window's start: base 12 alone holds them.
    assert.ok(segmentReceivedAt(121).getTime() < WINDOW_START);
    assert.deepEqual(reasonsOf(plan, seg(121)), [`needed by base ${w.ids[12]}`]);
    assert.deepEqual(reasonsOf(plan, seg(125)), [`needed by base ${w.ids[12]}`, 'inside the 7-day window']);
    // Only the window's base holds WAL onward; the newer bases kept by GFS hold their own ranges.
    assert.deepEqual(reasonsOf(plan, seg(195)), [`needed by base ${w.ids[12]}`, 'inside the 7-day window']);
    assert.deepEqual(reasonsOf(plan, seg(119)), [
      `older than the 7-day window and than the start of base ${w.ids[12]}, the oldest kept`,
    ]);
    const segmentRanges = wal.ranges
      .filter((r) => r.kind === 'segment')
      .map((r) => [r.first, r.last, r.count, r.action]);
    assert.deepEqual(segmentRanges.slice(0, 3), [
      [seg(0), seg(29), 30, 'delete'],
      [seg(30), seg(30), 1, 'keep'],
      [seg(31), seg(119), 89, 'delete'],
    ]);
    const partials = wal.ranges.filter((r) => r.kind === 'partial');
    assert.deepEqual(
      partials.map((r) => [r.first, r.action, r.reasons]),
      [
        [seg(199), 'delete', ['partial of a segment archived complete']],
        [seg(200), 'keep', [`needed by base ${w.ids[12]}`, 'inside the 7-day window']],
      ],
    );
    assert.equal(wal.deleted.count, 30 + 89 + 1);
    assert.equal(wal.kept.count, 1 + 80 + 1);
    assert.ok(wal.deleted.bytes > 0);
  });

  test('apply leaves every time of the window restorable and deletes only what the plan said', async () => {
    const w = await world();
    const before = await readRecoveryWindow(
      w.store,
      w.targetId,
      (await new Catalog(w.store).list(w.targetId)).manifests,
    );
    const dry = await w.service().apply(w.targetId, { now: NOW, dryRun: true });
    assert.deepEqual(walNames(w.store, w.targetId).length, 202, 'a dry run deletes nothing');
    const report = await w.service().apply(w.targetId, { now: NOW });
    assert.deepEqual(report.wal?.deleted, dry.wal?.deleted);
    assert.equal(report.wal?.deleted.length, 120);
    assert.deepEqual(report.wal.failures, []);
    const left = walNames(w.store, w.targetId);
    assert.ok(left.includes(segmentBlob(w, 30)));
    assert.ok(!left.includes(segmentBlob(w, 29)) && !left.includes(segmentBlob(w, 119)));
    assert.ok(left.includes(segmentBlob(w, 120)));
    assert.ok(!left.includes(partialBlobName(w.targetId, 1, seg(199))));

    const { manifests } = await new Catalog(w.store).list(w.targetId);
    const after = await readRecoveryWindow(w.store, w.targetId, manifests);
    assert.ok(
      after.earliest !== null && Date.parse(after.earliest) <= WINDOW_START,
      'the window start is restorable',
    );
    assert.equal(after.latest, before.latest, 'up to the newest WAL, as before');
    assert.equal(after.ranges.length, 2, 'the pinned base alone, and base 12 onward');
    assert.deepEqual(after.ranges[0], {
      from: new Date(baseAt(3).getTime() + 60_000).toISOString(),
      to: segmentReceivedAt(30).toISOString(),
    });
    const cool = report.wal.bytesPerTier.Cool;
    assert.ok(cool > 0);
    assert.match(
      await w.metrics.metricsText(),
      new RegExp(`tidemark_wal_archive_bytes\\{[^}]*target="${w.targetId}",tier="Cool"[^}]*\\} ${cool}\\b`),
    );
    const again = await w.service().apply(w.targetId, { now: NOW });
    assert.deepEqual(again.wal?.deleted, [], 'applying again deletes nothing');
  });

  test('a WAL delete that fails is reported, leaves that blob, and the next run finishes', async () => {
    const w = await world();
    const victim = segmentBlob(w, 50);
    await assert.rejects(
      w.service(failingDeletes(w.store, (name) => name === victim)).apply(w.targetId, { now: NOW }),
      (error: unknown) => {
        assert.ok(error instanceof RetentionRunError);
        assert.deepEqual(error.report.wal?.failures, [
          { blobName: victim, step: 'delete-wal', message: `delete ${victim}: unavailable` },
        ]);
        assert.equal(error.report.wal.deleted.length, 119, 'the other deletions went ahead');
        assert.match(error.message, /delete-wal .*000000010000000000000032\.zst/);
        return true;
      },
    );
    assert.ok(walNames(w.store, w.targetId).includes(victim));
    const report = await w.service().apply(w.targetId, { now: NOW });
    assert.deepEqual(report.wal?.deleted, [victim]);
  });

  test('base backups go in two batched requests (artifacts, then manifests), never one delete each', async () => {
    const w = await world();
    const calls = w.store.calls.length;
    const report = await w.service().apply(w.targetId, { now: NOW });
    assert.ok(report.deleted.length > 5, `deleted ${String(report.deleted.length)}`);
    const made = w.store.calls.slice(calls);
    const batches = made.filter((call) => call.startsWith('deleteMany '));
    assert.equal(batches.length, 2);
    assert.ok(batches[0]?.includes('/dump.'), 'artifacts first');
    assert.ok(batches[1]?.includes('/manifest.json'), 'then their manifests');
    const single = made.filter((call) => call.startsWith('delete ') && !call.includes('/wal/'));
    assert.deepEqual(single, []);
  });

  test('a locked WAL blob is kept, saying until when, and the run neither tries to delete it nor fails', async () => {
    const w = await world();
    const locked = segmentBlob(w, 50);
    const held = segmentBlob(w, 51);
    const until = new Date(Date.now() + 10 * DAY_MS);
    await w.store.setImmutability(locked, { until, mode: 'locked' });
    await w.store.setLegalHold(held, true);
    const plan = await w.planner().plan(w.targetId, NOW);
    assert.deepEqual(reasonsOf(plan, seg(50)).slice(0, 1), [`locked until ${until.toISOString()}`]);
    assert.match(reasonsOf(plan, seg(50))[1] ?? '', /^then /);
    assert.deepEqual(reasonsOf(plan, seg(51)).slice(0, 1), ['legal hold']);
    const calls = w.store.calls.length;
    const report = await w.service().apply(w.targetId, { now: NOW });
    assert.deepEqual(report.wal?.failures, []);
    assert.equal(report.wal.deleted.length, 118);
    assert.ok(
      !w.store.calls.slice(calls).includes(`delete ${locked}`),
      'no delete of the locked blob was tried',
    );
    assert.ok(walNames(w.store, w.targetId).includes(locked));
    assert.ok(walNames(w.store, w.targetId).includes(held));
  });

  test('a base backup whose deletion fails keeps the WAL after it for that run', async () => {
    const w = await world();
    const base11 = w.ids[11] as string;
    // The mark (a conditional manifest write) of base 11 fails: it stays a verified base that must stay restorable.
    const flaky = Object.create(w.store) as BlobStore;
    flaky.writeJson = (name, value, condition) =>
      name.includes(base11)
        ? Promise.reject(new StorageError('unavailable', 'write: unavailable'))
        : w.store.writeJson(name, value, condition);
    await assert.rejects(w.service(flaky).apply(w.targetId, { now: NOW }), RetentionRunError);
    const left = walNames(w.store, w.targetId);
    for (const s of [110, 115, 119]) assert.ok(left.includes(segmentBlob(w, s)), `segment ${s} stays`);
    assert.ok(!left.includes(segmentBlob(w, 109)), 'WAL before base 11 still goes');
    assert.equal((await new Catalog(w.store).find(base11, w.targetId))?.manifest.deletion, null);
    const report = await w.service().apply(w.targetId, { now: NOW });
    assert.ok(report.deleted.includes(base11));
    assert.equal(report.wal?.deleted.length, 10, 'segments 110..119 go with their base');
  });

  test('listing the WAL archive fails: the run fails before anything is deleted', async () => {
    const w = await world();
    const blobs = w.store.names();
    const broken = Object.create(w.store) as BlobStore;
    broken.list = (prefix) => {
      if (prefix.startsWith(walPrefix(w.targetId)))
        throw new StorageError('unavailable', 'list: unavailable');
      return w.store.list(prefix);
    };
    await assert.rejects(w.service(broken).apply(w.targetId, { now: NOW }), /list: unavailable/);
    assert.deepEqual(w.store.names(), blobs);
  });

  test('WAL follows its base down the tiers; WAL of the window never goes to Archive', async () => {
    // Every kept base is due for Archive at 3 days; the pinned base 3 moves, base 12 (the window's) must not.
    const w = await world({ initial: 'Hot', coolAfterDays: 1, archiveAfterDays: 3 });
    const plan = await w.planner().plan(w.targetId, NOW);
    assert.equal(plan.backups[3]?.tierMove?.to, 'Archive');
    assert.equal(plan.backups[12]?.tierMove, null);
    assert.equal(reasonsOf(plan, seg(30)).join(), `pinned base ${w.ids[3]}`);
    const pinnedRange = plan.wal?.ranges.find((r) => r.first === seg(30));
    assert.deepEqual(pinnedRange?.tierMove, { from: 'Cool', to: 'Archive' });
    const windowRange = plan.wal?.ranges.find((r) => r.first === seg(120));
    assert.equal(
      windowRange?.tierMove,
      null,
      'base 12 stays Hot and so does the WAL after it (Cool as written)',
    );

    const broken = Object.create(w.store) as BlobStore;
    broken.setTier = (name, tier) =>
      name.includes(w.ids[3] as string)
        ? Promise.reject(new StorageError('unavailable', 'set tier: unavailable'))
        : w.store.setTier(name, tier);
    await assert.rejects(w.service(broken).apply(w.targetId, { now: NOW }), RetentionRunError);
    assert.equal(
      (await w.store.properties(segmentBlob(w, 30)))?.tier,
      'Cool',
      'no WAL move ahead of its base',
    );
    const report = await w.service().apply(w.targetId, { now: NOW });
    assert.deepEqual(report.wal?.tiered, [{ blobName: segmentBlob(w, 30), from: 'Cool', to: 'Archive' }]);
    assert.equal((await w.store.properties(segmentBlob(w, 30)))?.tier, 'Archive');
    assert.equal(report.wal.bytesPerTier.Archive, (await w.store.properties(segmentBlob(w, 30)))?.size);
  });

  test('a history file that cannot be read: its timeline counts as unknown, its WAL stays, and the plan says so', async () => {
    const w = await world();
    const seeder = new WalSeeder(new WalArchive(w.store), w.targetId, dir);
    await seeder.history(3, [[1, 60]], new Date(NOW.getTime() - 15 * DAY_MS));
    for (const s of [150, 151]) await seeder.segment(s, new Date(NOW.getTime() - 15 * DAY_MS), 3);
    w.store.corrupt(historyBlobName(w.targetId, 3), (data) => {
      // A flipped byte in the frame: it no longer decompresses to what its sha256 says.
      const middle = Math.floor(data.length / 2);
      data[middle] = (data[middle] ?? 0) ^ 0xff;
      return data;
    });
    const { wal } = await w.planner().plan(w.targetId, NOW);
    assert.ok(wal);
    assert.equal(wal.unreadableHistories.length, 1);
    assert.equal(wal.unreadableHistories[0]?.timeline, 3);
    const tl3 = wal.ranges.filter((r) => r.timeline === 3);
    assert.deepEqual(
      tl3.map((r) => [r.kind, r.count, r.action, r.reasons]),
      [
        ['segment', 2, 'keep', [`needed by base ${w.ids[12]}`]],
        ['history', 1, 'keep', ['timeline history']],
      ],
    );
    // Readable, the same history says timeline 3 left timeline 1 before every kept base: its old WAL could go.
  });
});
