import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StorageError } from '@tidemark/storage';
import { MemoryBlobStore } from './memory-blob-store';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-01T00:00:00Z');
const later = (days: number): Date => new Date(NOW.getTime() + days * DAY_MS);

async function refusedWith(call: Promise<unknown>, code: StorageError['code']): Promise<void> {
  await assert.rejects(call, (error) => error instanceof StorageError && error.code === code);
}

describe('MemoryBlobStore immutability (Azure version-level WORM rules)', () => {
  test('a locked blob refuses delete, shortening, unlocking and removal, and accepts extension', async () => {
    const store = new MemoryBlobStore('c', { now: () => NOW });
    await store.writeJson('a.json', { v: 1 }, { ifNoneMatch: '*' });
    await store.setImmutability('a.json', { until: later(10), mode: 'locked' });
    await refusedWith(store.delete('a.json'), 'immutable');
    await refusedWith(store.setImmutability('a.json', { until: later(5), mode: 'locked' }), 'immutable');
    await refusedWith(store.setImmutability('a.json', { until: later(20), mode: 'unlocked' }), 'immutable');
    await refusedWith(store.clearImmutability('a.json'), 'immutable');
    await store.setImmutability('a.json', { until: later(30), mode: 'locked' });
    assert.deepEqual((await store.properties('a.json'))?.immutability, { until: later(30), mode: 'locked' });
    // Tags and tiers stay writable.
    await store.setTags('a.json', { status: 'verified' });
    await store.setTier('a.json', 'Cold');
  });

  test('an unlocked policy can be shortened or removed; an expired one no longer blocks deletion', async () => {
    let now = NOW;
    const store = new MemoryBlobStore('c', { now: () => now });
    await store.writeJson('a.json', {}, { ifNoneMatch: '*' });
    await store.setImmutability('a.json', { until: later(10), mode: 'unlocked' });
    await refusedWith(store.delete('a.json'), 'immutable');
    await store.setImmutability('a.json', { until: later(2), mode: 'unlocked' });
    await store.clearImmutability('a.json');
    await store.setImmutability('a.json', { until: later(1), mode: 'locked' });
    now = later(2);
    await store.delete('a.json');
    assert.equal(await store.properties('a.json'), null);
  });

  test('a legal hold blocks deletion until cleared', async () => {
    const store = new MemoryBlobStore('c', { now: () => NOW });
    await store.writeJson('a.json', {}, { ifNoneMatch: '*' });
    await store.setLegalHold('a.json', true);
    assert.equal((await store.properties('a.json'))?.legalHold, true);
    await refusedWith(store.delete('a.json'), 'immutable');
    await store.setLegalHold('a.json', false);
    await store.delete('a.json');
  });

  test('writing over a protected blob keeps the protected version and makes an unprotected current one', async () => {
    const store = new MemoryBlobStore('c', { now: () => NOW });
    const first = await store.writeJson('m.json', { status: 'uploaded' }, { ifNoneMatch: '*' });
    await store.setImmutability('m.json', { until: later(7), mode: 'locked' });
    await store.writeJson('m.json', { status: 'verified' }, { ifMatch: first.etag });
    assert.deepEqual((await store.readJson('m.json'))?.value, { status: 'verified' });
    assert.equal((await store.properties('m.json'))?.immutability, undefined);
    const versions = store.versions('m.json');
    assert.equal(versions.length, 1);
    assert.deepEqual(JSON.parse(versions[0]?.data.toString() ?? ''), { status: 'uploaded' });
    assert.deepEqual(versions[0]?.immutability, { until: later(7), mode: 'locked' });
  });

  test('with immutability unsupported (as Azurite) every immutability call is not-supported', async () => {
    const store = new MemoryBlobStore('c', { immutability: 'unsupported' });
    await store.writeJson('a.json', {}, { ifNoneMatch: '*' });
    await refusedWith(store.setImmutability('a.json', { until: later(1), mode: 'locked' }), 'not-supported');
    await refusedWith(store.clearImmutability('a.json'), 'not-supported');
    await refusedWith(store.setLegalHold('a.json', true), 'not-supported');
    await store.delete('a.json');
  });
});
