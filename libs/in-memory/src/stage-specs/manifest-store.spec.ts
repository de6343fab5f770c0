import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManifestStore } from '@tidemark/catalog';
import { manifestBlobName, markDumped, newManifest, ManifestError, type Manifest } from '@tidemark/manifest';
import { LocalTier, StorageError } from '@tidemark/storage';
import { MemoryBlobStore } from '@tidemark/testing-storage';

const sha = 'a'.repeat(64);

function dumping(backupId: string): Manifest {
  return newManifest({
    backupId,
    target: { id: 'db', kind: 'directory', database: 'files', serverVersion: null },
    policy: 'p',
    trigger: 'manual',
    requestedAt: new Date('2026-12-01T00:00:00Z'),
    startedAt: new Date('2026-12-01T00:00:01Z'),
    format: { format: 'tar', extension: 'tar', restoreCommand: 'tar -x' },
    compression: 'zstd',
    localPath: '/tmp/x',
    dumpAttempt: 1,
    tool: { name: 'tidemark', version: 'test', hostname: 'h', dumpTool: null },
  });
}

const dumped = (m: Manifest): Manifest =>
  markDumped(m, { size: 1, rawSize: 1, sha256: sha, parts: [] }, new Date('2026-12-01T00:00:02Z'));

describe('ManifestStore: the one writer of manifests', () => {
  let dir: string;
  let store: MemoryBlobStore;
  let manifests: ManifestStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-manifest-store-'));
    store = new MemoryBlobStore();
    manifests = new ManifestStore(store, new LocalTier(dir));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('creates the remote copy once; a change that returns the same manifest writes nothing', async () => {
    const backupId = '20261201T000000Z-aaaaaa';
    await manifests.transition('db', backupId, () => dumping(backupId));
    const writes = store.calls.filter((c) => c.startsWith('writeJson')).length;
    await manifests.transition('db', backupId, (current) => current);
    assert.equal(store.calls.filter((c) => c.startsWith('writeJson')).length, writes);
  });

  test('an illegal status move is refused and the stored copy is unchanged', async () => {
    const backupId = '20261201T000000Z-bbbbbb';
    await manifests.transition('db', backupId, () => dumped(dumping(backupId)));
    await assert.rejects(
      manifests.transition('db', backupId, () => dumping(backupId)),
      (error: unknown) =>
        error instanceof ManifestError && /cannot move from dumped to dumping/.test(error.message),
    );
    assert.equal((await manifests.find(backupId, 'db'))?.manifest.status, 'dumped');
    await assert.rejects(
      manifests.transitionLocal('db', backupId, () => dumping('20261201T000000Z-cccccc')),
      /returned the manifest of db\/20261201T000000Z-cccccc/,
    );
  });

  test('another writer in between: the change is applied again to what it wrote', async () => {
    const backupId = '20261201T000000Z-dddddd';
    await manifests.transition('db', backupId, () => dumped(dumping(backupId)));
    let calls = 0;
    const result = await manifests.update('db', backupId, (current) => {
      calls += 1;
      if (calls === 1) {
        // A pin lands between this read and this write.
        const blobName = manifestBlobName('db', backupId);
        void store.writeJson(blobName, { ...current, pinned: true }, 'overwrite');
      }
      return { ...current, status: 'failed' };
    });
    assert.equal(calls, 2, 'read and changed again after the etag conflict');
    assert.equal(result.status, 'failed');
    assert.equal(
      (result as Manifest & { pinned?: boolean }).pinned,
      true,
      "the other writer's change is kept",
    );
  });

  test('update of a missing manifest is not-found; a persistent conflict gives up after five tries', async () => {
    await assert.rejects(
      manifests.update('db', '20261201T000000Z-eeeeee', (m) => m),
      (error: unknown) => error instanceof StorageError && error.code === 'not-found',
    );
    const backupId = '20261201T000000Z-ffffff';
    await manifests.transition('db', backupId, () => dumped(dumping(backupId)));
    store.failNext('writeJson', 5, new StorageError('precondition', 'changed meanwhile'));
    await assert.rejects(
      manifests.update('db', backupId, (m) => ({ ...m, status: 'failed' })),
      (error: unknown) => error instanceof StorageError && error.code === 'precondition',
    );
  });

  test('the local copy: created, moved legally, never moved back', async () => {
    const backupId = '20261201T000000Z-gggggg';
    await manifests.transitionLocal('db', backupId, () => dumping(backupId));
    await manifests.transitionLocal('db', backupId, (m) => (m ? dumped(m) : null));
    assert.equal((await manifests.readLocal('db', backupId))?.status, 'dumped');
    await assert.rejects(
      manifests.transitionLocal('db', backupId, () => dumping(backupId)),
      ManifestError,
    );
  });
});
