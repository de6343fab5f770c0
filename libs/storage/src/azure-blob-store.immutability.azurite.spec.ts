import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAzurite, uniqueName, type AzuriteHandle } from '@tidemark/testing';
import { StorageError } from '@tidemark/azure-blob-sdk';
import { AzureBlobStore } from './azure-blob-store';

// What Azurite (3.x, the version in node_modules) answers to version-level immutability: it does not implement
// it. These tests pin that down so a newer Azurite that starts to answer (or Tidemark code that starts to rely
// on it) is noticed. The rules themselves are tested against MemoryBlobStore, which implements Azure's.
let azurite: AzuriteHandle;

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

const blockId = Buffer.from('block-00001').toString('base64');

async function committed(): Promise<{ store: AzureBlobStore; name: string }> {
  const store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('immutable'));
  await store.ensureContainer();
  const name = 't/b/artifact.bin';
  await store.stageBlock(name, blockId, Buffer.from('bytes'));
  await store.commitBlocks(name, [blockId], { metadata: {}, tags: {}, tier: 'Hot' });
  return { store, name };
}

async function refusal(call: Promise<unknown>): Promise<StorageError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof StorageError, String(error));
    return error;
  }
  assert.fail('expected Azurite to refuse');
}

describe('AzureBlobStore immutability calls against Azurite', () => {
  test('setImmutability, clearImmutability and setLegalHold are 501 APINotImplemented → not-supported', async () => {
    const { store, name } = await committed();
    const until = new Date(Date.now() + 86_400_000);
    for (const call of [
      store.setImmutability(name, { until, mode: 'unlocked' }),
      store.setImmutability(name, { until, mode: 'locked' }),
      store.clearImmutability(name),
      store.setLegalHold(name, true),
      store.setLegalHold(name, false),
    ]) {
      const error = await refusal(call);
      assert.equal(error.code, 'not-supported');
      assert.deepEqual(error.detail, { status: 501, serviceCode: 'APINotImplemented' });
      assert.match(
        error.message,
        /in .+ failed: http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1 does not implement it/,
      );
    }
  });

  test('its properties carry no policy and no hold, and the blob can still be deleted and tagged', async () => {
    const { store, name } = await committed();
    await refusal(store.setLegalHold(name, true));
    const properties = await store.properties(name);
    assert.ok(properties);
    assert.equal(properties.immutability, undefined);
    assert.equal(properties.legalHold, undefined);
    await store.setTags(name, { status: 'verified' });
    assert.deepEqual(await store.tags(name), { status: 'verified' });
    await store.delete(name);
    assert.equal(await store.properties(name), null);
  });
});
