import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { EventPublisher, type EventBus, type TidemarkEvent } from '@tidemark/events';
import { artifactBlobName, newManifest, type Manifest } from '@tidemark/manifest';
import { AzureBlobStore, LocalTier, type BlobProperties } from '@tidemark/storage';
import { startAzurite, uniqueName, type AzuriteHandle } from '@tidemark/testing';
import { RestoreError, RestoreService, type RehydrationStarted, type RestoreResult } from './restore.service';

const CONTENT = Buffer.from('-- a tiny uncompressed dump\n');

/** Keeps what is published; restore reads nothing back from the bus. */
function recordingBus(published: TidemarkEvent[]): EventBus {
  const unused = (): never => {
    throw new Error('not used by restore');
  };
  return {
    publish: (event) => {
      published.push(event);
      return Promise.resolve();
    },
    history: unused,
    follow: unused,
    consume: unused,
    close: () => Promise.resolve(),
  };
}

/**
 * Azurite rehydrates an Archive blob at once, so waiting is exercised with a store that reports the blob
 * `rehydrate-pending-to-cool` for a few looks, as Azure does for hours.
 */
describe('restoring a backup from the Archive tier (real Azurite)', () => {
  let azurite: AzuriteHandle;
  let store: AzureBlobStore;
  let catalog: Catalog;
  let dir: string;
  const published: TidemarkEvent[] = [];
  const events = new EventPublisher(recordingBus(published), 'restore-test');
  const typesOf = (backupId: string): string[] =>
    published.filter((e) => e.data.backupId === backupId).map((e) => e.type);

  before(async () => {
    azurite = await startAzurite();
    store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('rehydrate'));
    await store.ensureContainer();
    catalog = new Catalog(store);
    dir = await mkdtemp(join(tmpdir(), 'tidemark-rehydrate-'));
  });

  after(async () => {
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function archivedBackup(suffix: string): Promise<Manifest> {
    const backupId = `20250101T020000Z-${suffix}`;
    const base = newManifest({
      backupId,
      target: { id: 'cold-db', kind: 'postgres', database: 'db', serverVersion: '16.4' },
      policy: 'p',
      trigger: 'schedule',
      requestedAt: new Date('2025-01-01T02:00:00Z'),
      startedAt: new Date('2025-01-01T02:00:00Z'),
      format: {
        format: 'pg_dump-custom',
        extension: 'pgc',
        restoreCommand: 'pg_restore --no-owner -d <database>',
      },
      compression: 'none',
      localPath: '/x',
      dumpAttempt: 1,
      tool: { name: 'tidemark', version: '0', hostname: 'h', dumpTool: null },
    });
    const blobName = artifactBlobName('cold-db', backupId, base.artifact.name);
    const block = Buffer.from('b0').toString('base64');
    await store.stageBlock(blobName, block, CONTENT);
    await store.commitBlocks(blobName, [block], { metadata: {}, tags: {}, tier: 'Cool' });
    await store.setTier(blobName, 'Archive');
    const manifest: Manifest = {
      ...base,
      status: 'verified',
      artifact: {
        ...base.artifact,
        size: CONTENT.length,
        rawSize: CONTENT.length,
        sha256: createHash('sha256').update(CONTENT).digest('hex'),
      },
      locations: {
        local: null,
        remote: {
          container: store.container,
          blobName,
          etag: null,
          tier: 'Archive',
          tierSince: '2025-04-01T00:00:00.000Z',
        },
      },
    };
    await new ManifestStore(store, new LocalTier(dir)).create(manifest);
    return manifest;
  }

  test('without a rehydration request an archived backup is refused, as before', async () => {
    const m = await archivedBackup('aaaaa1');
    const service = new RestoreService(catalog, new ManifestStore(store, new LocalTier(dir)), store, events);
    await assert.rejects(
      service.restore({ targetId: 'cold-db', backupId: m.backupId, to: join(dir, 'a.sql'), clean: false }),
      (e: unknown) => e instanceof RestoreError && e.code === 'archived',
    );
    assert.equal((await store.properties(m.locations.remote?.blobName ?? ''))?.tier, 'Archive');
    assert.deepEqual(typesOf(m.backupId), ['tidemark.restore.failed']);
  });

  test('without --wait: rehydration to Cool starts at the asked priority and the call returns', async () => {
    const m = await archivedBackup('aaaaa2');
    const calls: unknown[][] = [];
    const recording = Object.create(store) as AzureBlobStore;
    recording.setTier = (name, tier, options) => {
      calls.push([name, tier, options]);
      return store.setTier(name, tier, options);
    };
    const started: RehydrationStarted[] = [];
    const result = await new RestoreService(
      catalog,
      new ManifestStore(recording, new LocalTier(dir)),
      recording,
      events,
    ).restore({
      targetId: 'cold-db',
      backupId: m.backupId,
      to: join(dir, 'b.sql'),
      clean: false,
      rehydrate: { priority: 'High', wait: false, onStarted: (info) => started.push(info) },
    });
    assert.ok('rehydrating' in result);
    assert.equal(result.priority, 'High');
    assert.equal(result.alreadyPending, false);
    assert.equal(started.length, 1);
    assert.deepEqual(calls, [[m.locations.remote?.blobName, 'Cool', { rehydratePriority: 'High' }]]);
    // Azurite rehydrates at once: resuming finds the blob online, restores it and records its tier.
    const resumed = (await new RestoreService(
      catalog,
      new ManifestStore(store, new LocalTier(dir)),
      store,
      events,
    ).restore({
      targetId: 'cold-db',
      backupId: m.backupId,
      to: join(dir, 'b.sql'),
      clean: false,
      rehydrate: { priority: 'Standard', wait: true },
    })) as RestoreResult;
    assert.deepEqual(await readFile(join(dir, 'b.sql')), CONTENT);
    assert.equal(resumed.manifest.locations.remote?.tier, 'Cool');
    assert.equal((await catalog.find(m.backupId, 'cold-db'))?.manifest.locations.remote?.tier, 'Cool');
    // The started rehydration is no restore yet: only the resumed restore is published.
    assert.deepEqual(typesOf(m.backupId), ['tidemark.restore.completed']);
    const completed = published.find((e) => e.data.backupId === m.backupId);
    assert.equal(completed?.data.sizes?.compressed, resumed.bytes);
  });

  test('with --wait: polls while the rehydration is pending, reports progress, then restores', async () => {
    const m = await archivedBackup('aaaaa3');
    let pendingLooks = 0;
    let setTierCalls = 0;
    const slow = Object.create(store) as AzureBlobStore;
    slow.setTier = (name, tier, options) => {
      setTierCalls += 1;
      return store.setTier(name, tier, options);
    };
    // A rehydration started earlier (by another restore) is still pending for three looks.
    slow.properties = async (name): Promise<BlobProperties | null> => {
      const real = await store.properties(name);
      if (!real || pendingLooks >= 3) return real;
      pendingLooks += 1;
      return { ...real, tier: 'Archive', archiveStatus: 'rehydrate-pending-to-cool' };
    };
    await store.setTier(m.locations.remote?.blobName ?? '', 'Cool');
    const waiting: (string | undefined)[] = [];
    let started: RehydrationStarted | undefined;
    const result = await new RestoreService(
      catalog,
      new ManifestStore(slow, new LocalTier(dir)),
      slow,
      events,
    ).restore({
      targetId: 'cold-db',
      backupId: m.backupId,
      to: join(dir, 'c.sql'),
      clean: false,
      rehydrate: {
        priority: 'Standard',
        wait: true,
        pollMs: 10,
        onStarted: (info) => (started = info),
        onWaiting: (s) => waiting.push(s.archiveStatus),
      },
    });
    assert.ok(!('rehydrating' in result));
    assert.equal(started?.alreadyPending, true);
    assert.equal(setTierCalls, 0, 'a pending rehydration is not requested again');
    assert.deepEqual(waiting, ['rehydrate-pending-to-cool', 'rehydrate-pending-to-cool']);
    assert.deepEqual(await readFile(join(dir, 'c.sql')), CONTENT);
  });

  test('a missing artifact is a clear error', async () => {
    const m = await archivedBackup('aaaaa4');
    await store.delete(m.locations.remote?.blobName ?? '');
    await assert.rejects(
      new RestoreService(catalog, new ManifestStore(store, new LocalTier(dir)), store, events).restore({
        targetId: 'cold-db',
        backupId: m.backupId,
        to: join(dir, 'd.sql'),
        clean: false,
      }),
      (e: unknown) => e instanceof RestoreError && e.code === 'not-found' && /is missing/.test(e.message),
    );
  });
});
