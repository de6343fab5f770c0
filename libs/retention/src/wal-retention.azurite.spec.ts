import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Logger } from '@nestjs/common';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { EventPublisher, isEvent } from '@tidemark/events';
import { MemoryEventBus, MemoryLock } from '@tidemark/in-memory';
import { TidemarkMetrics } from '@tidemark/observability';
import { validateConfig } from '@tidemark/policy';
import { sourceKinds } from '@tidemark/source-kinds';
import { AzureBlobStore, LocalTier, StorageError, type BlobStore } from '@tidemark/storage';
import { startAzurite, uniqueName, type AzuriteHandle } from '@tidemark/testing';
import { blobsUnder, DAY_MS, seedBaseManifest, seedRemote, WalSeeder } from '@tidemark/testing-retention';
import { partialBlobName, segmentBlobName, segmentFileName, walPrefix } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { readRecoveryWindow } from './recovery-window';
import { RetentionPlanner } from './retention-plan';
import { RetentionRunError, RetentionService } from './retention.service';

const NOW = new Date('2026-12-03T12:00:00.000Z');
/** Base i is taken 9 - i days before NOW, at 02:00; four segments a day, base i starts and stops in segment 4·i. */
const FIRST = NOW.getTime() - 9 * DAY_MS - 10 * 3600_000;
const SEGMENT_MS = DAY_MS / 4;
const received = (s: number) => new Date(FIRST + (s + 1) * SEGMENT_MS - 60_000);
const seg = (s: number, timeline = 1) => segmentFileName({ timeline, segno: BigInt(s) });

describe('WAL retention against Azure Blob Storage (real Azurite)', () => {
  let azurite: AzuriteHandle;
  let dir: string;

  before(async () => {
    Logger.overrideLogger(false);
    azurite = await startAzurite();
    dir = await mkdtemp(join(tmpdir(), 'wal-retention-azurite-'));
  });
  after(async () => {
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function setup() {
    const store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('walret'));
    await store.ensureContainer();
    const targetId = uniqueName('cluster').slice(0, 30);
    const config = validateConfig(
      {
        policies: {
          p: {
            schedule: '0 2 * * *',
            retention: { remote: { keepLast: 2, daily: 0, weekly: 0, monthly: 0, yearly: 0 } },
            tiering: { initial: 'Hot', coolAfterDays: 1, archiveAfterDays: 5 },
          },
        },
        targets: [
          {
            id: targetId,
            kind: 'postgres',
            method: 'physical',
            url: 'postgres://r@db/postgres',
            policy: 'p',
            pitr: { windowDays: 3 },
          },
        ],
      },
      undefined,
      { kinds: sourceKinds() },
    );
    const local = new LocalTier(await mkdtemp(join(dir, 'local-')));
    const manifests = Array.from({ length: 10 }, (_, i) =>
      seedBaseManifest(store.container, {
        targetId,
        takenAt: new Date(FIRST + i * DAY_MS),
        status: 'verified',
        startSegno: 4 * i,
        pinned: i === 1,
      }),
    );
    await seedRemote(store, new ManifestStore(store, local), manifests);
    const wal = new WalSeeder(new WalArchive(store), targetId, dir);
    for (let s = 0; s < 40; s++) await wal.segment(s, received(s));
    await wal.partial(39, received(39));
    await wal.partial(40, new Date(NOW.getTime() - 10_000));
    const bus = new MemoryEventBus();
    const service = (s: BlobStore = store) => {
      const catalog = new Catalog(s);
      return new RetentionService(
        config,
        catalog,
        new ManifestStore(s, local),
        s,
        local,
        new RetentionPlanner(config, catalog, local, s),
        Object.assign(new MemoryLock(), { ttlMs: 60_000 }),
        new EventPublisher(bus, 'retention'),
        new TidemarkMetrics('wal-retention-azurite'),
      );
    };
    return { store, targetId, ids: manifests.map((m) => m.backupId), service, bus };
  }

  test('deletes exactly the WAL no kept base and no time of the window needs, and moves WAL with its base', async () => {
    const { store, targetId, ids, service, bus } = await setup();
    // Window start is NOW - 3 d: base 6 (ended 3 d 10 h ago) covers it; keepLast keeps 8 and 9; base 1 is pinned.
    const report = await service().apply(targetId, { now: NOW });
    assert.deepEqual(report.deleted, [ids[0], ids[2], ids[3], ids[4], ids[5], ids[7]]);
    const keep = new Set<string>([
      segmentBlobName(targetId, 1, seg(4)),
      partialBlobName(targetId, 1, seg(40)),
    ]);
    for (let s = 24; s < 40; s++) keep.add(segmentBlobName(targetId, 1, seg(s)));
    const left = await blobsUnder(store, walPrefix(targetId));
    assert.deepEqual([...left.keys()], [...keep].sort());
    assert.equal(report.wal?.deleted.length, 40 + 2 - keep.size);
    // The pinned base went to Archive (5 days), and its WAL with it; the window's WAL stays online.
    assert.equal(left.get(segmentBlobName(targetId, 1, seg(4))), 'Archive');
    assert.equal(left.get(segmentBlobName(targetId, 1, seg(24))), 'Cool');
    assert.deepEqual(report.wal.tiered, [
      { blobName: segmentBlobName(targetId, 1, seg(4)), from: 'Cool', to: 'Archive' },
    ]);

    const window = await readRecoveryWindow(
      store,
      targetId,
      (await new Catalog(store).list(targetId)).manifests,
    );
    assert.ok(window.earliest && Date.parse(window.earliest) <= NOW.getTime() - 3 * DAY_MS);
    assert.equal(window.latest, new Date(NOW.getTime() - 10_000).toISOString());

    const [event] = (await bus.history({ targetId }))
      .map((e) => e.event)
      .filter((e) => isEvent(e, 'tidemark.retention.applied'));
    assert.ok(event && isEvent(event, 'tidemark.retention.applied'));
    assert.equal(event.data.wal?.deleted, report.wal.deleted.length);
    assert.equal(event.data.wal.bytesFreed, report.wal.bytesFreed);
  });

  test('Blob Storage failing part-way through the WAL deletions leaves every needed blob; the next run finishes', async () => {
    const { store, targetId, service } = await setup();
    let deletes = 0;
    const flaky = Object.create(store) as BlobStore;
    flaky.delete = async (name, options) => {
      // The outage starts after the base backups are gone, in the middle of the WAL.
      if (name.startsWith(walPrefix(targetId)) && ++deletes > 10)
        throw new StorageError('unavailable', `delete ${name}: the service is unavailable`);
      await store.delete(name, options);
    };
    await assert.rejects(service(flaky).apply(targetId, { now: NOW }), (error: unknown) => {
      assert.ok(error instanceof RetentionRunError);
      assert.equal(error.report.wal?.deleted.length, 10);
      assert.ok(error.report.wal.failures.length > 0);
      return true;
    });
    const left = await blobsUnder(store, walPrefix(targetId));
    for (let s = 24; s < 40; s++)
      assert.ok(left.has(segmentBlobName(targetId, 1, seg(s))), `segment ${s} stays`);
    const window = await readRecoveryWindow(
      store,
      targetId,
      (await new Catalog(store).list(targetId)).manifests,
    );
    assert.ok(window.earliest && Date.parse(window.earliest) <= NOW.getTime() - 3 * DAY_MS);
    const report = await service().apply(targetId, { now: NOW });
    assert.ok((report.wal?.deleted.length ?? 0) > 0);
    assert.equal((await blobsUnder(store, walPrefix(targetId))).size, 18);
  });
});
