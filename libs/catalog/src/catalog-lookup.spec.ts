import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { newManifest } from '@tidemark/manifest';
import { LocalTier, StorageError } from '@tidemark/storage';
import { MemoryBlobStore } from '@tidemark/testing-storage';
import { Catalog } from './catalog';
import { ManifestStore } from './manifest-store';

const BACKUP = '20261124T020000Z-cccccc';

async function seeded(): Promise<MemoryBlobStore> {
  const store = new MemoryBlobStore();
  await new ManifestStore(store, new LocalTier(tmpdir())).create(
    newManifest({
      backupId: BACKUP,
      target: { id: 'orders', kind: 'postgres', database: 'db', serverVersion: '15.2' },
      policy: 'p',
      trigger: 'manual',
      requestedAt: new Date(),
      startedAt: new Date(),
      format: { format: 'pg_dump-custom', extension: 'pgc', restoreCommand: 'pg_restore -d <database>' },
      compression: 'zstd',
      localPath: '/x',
      dumpAttempt: 1,
      tool: { name: 'tidemark', version: '0', hostname: 'h', dumpTool: null },
    }),
  );
  return store;
}

describe('Catalog.find without a target', () => {
  test('one tag query, no listing', async () => {
    const store = await seeded();
    const before = store.calls.length;
    assert.equal((await new Catalog(store).find(BACKUP))?.manifest.target.id, 'orders');
    const calls = store.calls.slice(before).map((call) => call.split(' ')[0]);
    assert.deepEqual(calls, ['findByTag', 'readJson']);
  });

  test('a role that may not query the tag index finds it by listing; an outage is not hidden', async () => {
    const store = await seeded();
    store.failNext(
      'findByTag',
      1,
      new StorageError('auth', 'find blobs tagged: 403 AuthorizationPermissionMismatch'),
    );
    assert.equal((await new Catalog(store).find(BACKUP))?.manifest.backupId, BACKUP);
    store.failNext('findByTag', 1, new StorageError('unavailable', 'find blobs tagged: connection refused'));
    await assert.rejects(new Catalog(store).find(BACKUP), { code: 'unavailable' });
  });
});
