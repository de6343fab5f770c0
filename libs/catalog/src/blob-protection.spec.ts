import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { artifactBlobName, manifestBlobName, newManifest, type Manifest } from '@tidemark/manifest';
import { LocalTier, StorageError } from '@tidemark/storage';
import { MemoryBlobStore } from '@tidemark/testing-storage';
import { protectBlobs, releaseVersionHold } from './blob-protection';
import { ManifestStore } from './manifest-store';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-01T00:00:00Z');
const BACKUP = '20261130T020000Z-abc123';
const ARTIFACT = artifactBlobName('orders', BACKUP, 'db.pgc.zst');
const MANIFEST = manifestBlobName('orders', BACKUP);
const UNTIL = new Date(NOW.getTime() + 10 * DAY_MS);

function manifest(extra: Partial<Manifest> = {}): Manifest {
  const base = newManifest({
    backupId: BACKUP,
    target: { id: 'orders', kind: 'postgres', database: 'db', serverVersion: '15.2' },
    policy: 'p',
    trigger: 'manual',
    requestedAt: NOW,
    startedAt: NOW,
    format: { format: 'pg_dump-custom', extension: 'pgc', restoreCommand: 'pg_restore -d <database>' },
    compression: 'zstd',
    localPath: '/x',
    dumpAttempt: 1,
    tool: { name: 'tidemark', version: '0', hostname: 'h', dumpTool: null },
  });
  return {
    ...base,
    locations: {
      local: null,
      remote: { container: 'c', blobName: ARTIFACT, etag: null, tier: 'Cool' },
    },
    immutability: { mode: 'locked', until: UNTIL.toISOString() },
    ...extra,
  };
}

async function storeWith(m: Manifest, options: ConstructorParameters<typeof MemoryBlobStore>[1] = {}) {
  const store = new MemoryBlobStore('c', { now: () => NOW, ...options });
  await store.writeJson(ARTIFACT, {}, { ifNoneMatch: '*' });
  await store.writeJson(MANIFEST, m, { ifNoneMatch: '*' });
  store.calls.length = 0;
  return store;
}

const protectionCalls = (store: MemoryBlobStore): string[] =>
  store.calls.filter((call) => /^(setImmutability|setLegalHold|clearImmutability) /.test(call));

describe('protectBlobs', () => {
  test('puts the recorded lock on the artifact and the manifest, and a legal hold while pinned', async () => {
    const m = manifest({ pinned: true });
    const store = await storeWith(m);
    await protectBlobs(store, m, { now: NOW });
    for (const name of [ARTIFACT, MANIFEST]) {
      const properties = await store.properties(name);
      assert.deepEqual(properties?.immutability, { mode: 'locked', until: UNTIL });
      assert.equal(properties.legalHold, true);
    }
  });

  test('after a write, only what changed is set on the artifact; the new manifest version gets its lock', async () => {
    const m = manifest();
    const store = await storeWith(m);
    await protectBlobs(store, m, { now: NOW, previous: m });
    assert.deepEqual(protectionCalls(store), [`setImmutability ${MANIFEST}`]);
  });

  test('a manifest without a record is left alone; an expired record sets no policy', async () => {
    const plain = manifest({ immutability: undefined });
    const store = await storeWith(plain);
    await protectBlobs(store, plain);
    const expired = manifest({ immutability: { mode: 'locked', until: '2026-11-01T00:00:00Z' } });
    await protectBlobs(store, expired, { now: NOW, previous: null });
    assert.deepEqual(protectionCalls(store), []);
  });

  test('an artifact locked longer than the record keeps its lock, without an error', async () => {
    const m = manifest();
    const store = await storeWith(m);
    const longer = new Date(UNTIL.getTime() + 30 * DAY_MS);
    await store.setImmutability(ARTIFACT, { until: longer, mode: 'locked' });
    await protectBlobs(store, m, { now: NOW });
    assert.deepEqual((await store.properties(ARTIFACT))?.immutability, { mode: 'locked', until: longer });
  });

  test('a store without immutability is one error saying what to do, naming no key', async () => {
    const m = manifest();
    const store = await storeWith(m, { immutability: 'unsupported' });
    await assert.rejects(
      protectBlobs(store, m, { now: NOW }),
      (error) =>
        error instanceof StorageError &&
        error.code === 'not-supported' &&
        error.message ===
          'storage.immutability is set, but memory://blob does not implement version-level immutability (Azurite does not): enable version-level immutability on container c in Azure, or remove the setting',
    );
  });

  test('any other failure passes through', async () => {
    const m = manifest();
    const store = await storeWith(m);
    store.failNext('setImmutability');
    await assert.rejects(
      protectBlobs(store, m, { now: NOW }),
      (error) => error instanceof StorageError && error.code === 'unavailable',
    );
  });
});

describe('releaseVersionHold and the manifest store', () => {
  test('only a pinned, protected manifest has its version hold released', async () => {
    const store = await storeWith(manifest());
    await releaseVersionHold(store, manifest());
    await releaseVersionHold(store, manifest({ pinned: true, immutability: undefined }));
    assert.deepEqual(protectionCalls(store), []);
    await releaseVersionHold(store, manifest({ pinned: true }));
    assert.deepEqual(protectionCalls(store), [`setLegalHold ${MANIFEST}`]);
  });

  test('updates of a locked, pinned manifest leave every previous version locked and none held', async () => {
    const store = new MemoryBlobStore('c', { now: () => NOW });
    await store.writeJson(ARTIFACT, {}, { ifNoneMatch: '*' });
    const manifests = new ManifestStore(store, new LocalTier(tmpdir()));
    await manifests.create(manifest({ pinned: true }));
    await manifests.update('orders', BACKUP, (m) => ({ ...m, status: 'dumped' }));
    await manifests.update('orders', BACKUP, (m) => ({ ...m, pinned: false }));
    const versions = store.versions(MANIFEST);
    assert.equal(versions.length, 2);
    assert.ok(versions.every((v) => v.immutability?.until.getTime() === UNTIL.getTime() && !v.legalHold));
    const current = await store.properties(MANIFEST);
    assert.deepEqual(current?.immutability, { mode: 'locked', until: UNTIL });
    assert.equal(current.legalHold, undefined);
    assert.equal((await store.properties(ARTIFACT))?.legalHold, undefined);
  });

  test('a write whose lock step failed is locked by the retry, which changes nothing else', async () => {
    const store = new MemoryBlobStore('c', { now: () => NOW });
    await store.writeJson(ARTIFACT, {}, { ifNoneMatch: '*' });
    const manifests = new ManifestStore(store, new LocalTier(tmpdir()));
    await manifests.create(manifest());
    const toDumped = (m: Manifest): Manifest => (m.status === 'dumped' ? m : { ...m, status: 'dumped' });
    store.failNext('setImmutability');
    await assert.rejects(manifests.update('orders', BACKUP, toDumped), StorageError);
    assert.equal((await store.properties(MANIFEST))?.immutability, undefined, 'written, not locked yet');
    await manifests.update('orders', BACKUP, toDumped);
    assert.deepEqual((await store.properties(MANIFEST))?.immutability, { mode: 'locked', until: UNTIL });
  });
});
