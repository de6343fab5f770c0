import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateConfig } from '@tidemark/policy';
import { checkContainerProtection, StorageModule } from '@tidemark/storage';
import { MemoryBlobStore } from './memory-blob-store';
import { ReadinessChecks } from '@tidemark/observability';

const config = (storage: string, policy = '') =>
  validateConfig(
    JSON.parse(
      `{"storage": {"container": "backups"${storage}}, "local": {"path": "/tmp/x"}, "policies": {"p": {"schedule": "0 3 * * *"${policy}}}, "targets": [{"id": "t1", "kind": "directory", "url": "/tmp/t1", "policy": "p"}]}`,
    ),
    'tidemark.yaml',
  );
const lock = ', "immutability": {"mode": "unlocked", "days": 35}';

describe('checkContainerProtection', () => {
  test('nothing to say without immutability configured, whatever the container', async () => {
    for (const immutability of ['supported', 'unsupported', 'disabled'] as const)
      assert.equal(
        await checkContainerProtection(config(''), new MemoryBlobStore('c', { immutability })),
        null,
      );
  });

  test('a container with version-level immutability is fine', async () => {
    assert.equal(await checkContainerProtection(config(lock), new MemoryBlobStore('c')), null);
  });

  test('a container that says it has none is an error naming what asked for it', async () => {
    const finding = await checkContainerProtection(
      config('', lock),
      new MemoryBlobStore('backups', { immutability: 'disabled' }),
    );
    assert.equal(finding?.level, 'error');
    assert.match(
      finding.message,
      /^policies\.p\.immutability asks for immutable backups, but container backups/,
    );
    assert.match(finding.message, /--enable-vlw/);
  });

  test('a service that does not say (Azurite) is a warning', async () => {
    const finding = await checkContainerProtection(
      config(lock, lock),
      new MemoryBlobStore('c', { immutability: 'unsupported' }),
    );
    assert.equal(finding?.level, 'warning');
    assert.match(
      finding.message,
      /^storage\.immutability, policies\.p\.immutability ask for immutable backups;/,
    );
  });

  test('a store that cannot be read fails the check (the caller decides)', async () => {
    const store = new MemoryBlobStore('c');
    store.failNext('versionImmutability', 1, new Error('down'));
    await assert.rejects(checkContainerProtection(config(lock), store), /down/);
  });
});

describe('StorageModule at start', () => {
  const started = async (store: MemoryBlobStore, storage: string) => {
    const readiness = new ReadinessChecks();
    const module = new StorageModule(store, { ...config(storage), source: '/tmp/tidemark.yaml' }, readiness);
    await module.onModuleInit();
    const check = readiness.entries().find(([name]) => name === 'storage')?.[1];
    assert.ok(check);
    return check;
  };

  test('a container without version-level immutability keeps the service unready, saying why', async () => {
    const check = await started(new MemoryBlobStore('backups', { immutability: 'disabled' }), lock);
    await assert.rejects(check(), /storage\.immutability asks for immutable backups, but container backups/);
  });

  test('a container with it, or a service that does not say, is ready', async () => {
    await (
      await started(new MemoryBlobStore('backups'), lock)
    )();
    await (
      await started(new MemoryBlobStore('backups', { immutability: 'unsupported' }), lock)
    )();
  });
});
