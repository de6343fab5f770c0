import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newManifest, type Manifest } from '@tidemark/manifest';
import { AzureBlobStore, LocalTier, StorageError } from '@tidemark/storage';
import { startAzurite, uniqueName, type AzuriteHandle } from '@tidemark/testing';
import { tmpdir } from 'node:os';
import { Catalog } from './catalog';
import { ManifestStore } from './manifest-store';

function manifest(targetId: string, backupId: string): Manifest {
  return newManifest({
    backupId,
    target: { id: targetId, kind: 'postgres', database: 'db', serverVersion: '15.2' },
    policy: 'p',
    trigger: 'manual',
    requestedAt: new Date(),
    startedAt: new Date(),
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
}

describe('Catalog: the manifests in Blob Storage (real Azurite)', () => {
  let azurite: AzuriteHandle;
  let store: AzureBlobStore;
  let catalog: Catalog;
  let manifests: ManifestStore;
  // Only remote copies are written here: the local tier is never touched.
  const local = new LocalTier(tmpdir());

  before(async () => {
    azurite = await startAzurite();
    store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('catalog'));
    await store.ensureContainer();
    catalog = new Catalog(store);
    manifests = new ManifestStore(store, local);
  });

  after(async () => {
    await azurite.stop();
  });

  test('a manifest is created once; find returns it with its etag', async () => {
    const m = manifest('orders', '20261121T020000Z-aaaaaa');
    await manifests.create(m);
    const etag = (await store.properties('orders/20261121T020000Z-aaaaaa/manifest.json'))?.etag;
    await assert.rejects(
      manifests.create(m),
      (e: unknown) => e instanceof StorageError && e.code === 'exists',
    );
    const found = await catalog.find(m.backupId, 'orders');
    assert.ok(found && etag);
    assert.equal(found.etag, etag);
    assert.equal(found.manifest.backupId, m.backupId);
    assert.equal(
      (await catalog.find(m.backupId))?.manifest.target.id,
      'orders',
      'found without the target id',
    );
    assert.equal(await catalog.find('20261121T020000Z-zzzzzz', 'orders'), null);
  });

  test('an update retries when another writer changed the manifest in between', async () => {
    const m = manifest('orders', '20261121T030000Z-bbbbbb');
    await manifests.create(m);
    // A store whose first conditional write is preceded by another writer's change to the same manifest.
    let raced = false;
    const racing = Object.create(store) as AzureBlobStore;
    racing.writeJson = async (name, value, condition) => {
      if (!raced && typeof condition === 'object' && 'ifMatch' in condition) {
        raced = true;
        const current = await catalog.find(m.backupId, 'orders');
        assert.ok(current);
        await store.writeJson(name, { ...current.manifest, pinned: true }, { ifMatch: current.etag });
      }
      return store.writeJson(name, value, condition);
    };
    let calls = 0;
    const updated = await new ManifestStore(racing, local).update('orders', m.backupId, (current) => {
      calls += 1;
      return { ...current, policy: 'changed' };
    });
    assert.equal(calls, 2, 'read again after the conflict');
    assert.equal(updated.policy, 'changed');
    assert.equal(updated.pinned, true, 'the other writer’s change is kept');
    assert.equal((await catalog.find(m.backupId, 'orders'))?.manifest.policy, 'changed');
  });

  test('list returns manifests oldest first and reports unparseable ones instead of dropping them', async () => {
    await manifests.create(manifest('users', '20261120T010000Z-cccccc'));
    await store.writeJson(
      'users/20261120T020000Z-dddddd/manifest.json',
      { schemaVersion: 1, nonsense: true },
      'overwrite',
    );
    await store.writeJson('users/20261120T000000Z-eeeeee/dump.pgc.zst', {}, 'overwrite');
    const all = await catalog.list();
    assert.deepEqual(
      all.manifests.map((x) => x.backupId),
      ['20261120T010000Z-cccccc', '20261121T020000Z-aaaaaa', '20261121T030000Z-bbbbbb'],
    );
    const users = await catalog.list('users');
    assert.deepEqual(
      users.manifests.map((x) => x.target.id),
      ['users'],
    );
    assert.equal(users.unreadable.length, 1);
    assert.equal(users.unreadable[0]?.blobName, 'users/20261120T020000Z-dddddd/manifest.json');
  });

  test('WAL blobs under <target>/wal/ are never taken for backups or manifests', async () => {
    await manifests.create(manifest('cluster', '20261122T020000Z-ffffff'));
    // The archive's layout: segments, a partial and a history file per timeline, all JSON-free blobs.
    const wal = [
      'cluster/wal/00000001/000000010000000000000003.zst',
      'cluster/wal/00000001/000000010000000000000004.partial.zst',
      'cluster/wal/00000002/00000002.history.zst',
      'cluster/wal/00000002/000000020000000000000004.zst',
    ];
    for (const name of wal) await store.writeJson(name, { notAManifest: true }, 'overwrite');
    const listing = await catalog.list('cluster');
    assert.deepEqual(
      listing.manifests.map((m) => m.backupId),
      ['20261122T020000Z-ffffff'],
    );
    assert.deepEqual(listing.unreadable, [], 'no WAL blob is reported as an unreadable manifest');
    assert.ok(!(await catalog.list()).manifests.some((m) => m.backupId.includes('wal')));
    assert.equal((await catalog.find('20261122T020000Z-ffffff'))?.manifest.target.id, 'cluster');
  });

  test('find without the target asks the tag index, not a listing; an untagged (older) manifest is still found', async () => {
    const tagged = manifest('tagged', '20261123T020000Z-aaaaaa');
    await manifests.create(tagged);
    assert.deepEqual(await store.tags('tagged/20261123T020000Z-aaaaaa/manifest.json'), {
      target: 'tagged',
      backup: '20261123T020000Z-aaaaaa',
    });
    await manifests.update('tagged', tagged.backupId, (m) => ({ ...m, policy: 'changed' }));
    assert.equal(
      (await store.tags('tagged/20261123T020000Z-aaaaaa/manifest.json')).backup,
      tagged.backupId,
      'an update keeps the tags (Azure replaces them with each write)',
    );
    let listings = 0;
    const counting = Object.create(store) as AzureBlobStore;
    counting.list = (prefix: string) => {
      listings += 1;
      return store.list(prefix);
    };
    const indexed = new Catalog(counting);
    assert.equal((await indexed.find(tagged.backupId))?.manifest.policy, 'changed');
    assert.equal(listings, 0, 'found through the tag index alone');

    // Written as manifests were before they carried tags.
    const legacy = manifest('legacy', '20261123T030000Z-bbbbbb');
    await store.writeJson('legacy/20261123T030000Z-bbbbbb/manifest.json', legacy, { ifNoneMatch: '*' });
    assert.equal((await indexed.find(legacy.backupId))?.manifest.target.id, 'legacy');
    assert.equal(listings, 1, 'the listing is the fallback');
    assert.equal(await indexed.find("not-an-id' or 1=1"), null);
  });
});
