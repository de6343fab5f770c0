import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  BlobServiceClient,
  StorageSharedKeyCredential,
  newPipeline,
  type RequestPolicy,
  type RequestPolicyFactory,
  type WebResource,
} from '@azure/storage-blob';
import { ACCESS_TIERS } from '@tidemark/manifest';
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  startAzurite,
  uniqueName,
  type AzuriteHandle,
} from '@tidemark/testing';
import { AzureBlobStore } from './azure-blob-store';
import type { BlobStore } from './blob-store';
import { createBlobStore } from './create-blob-store';

let azurite: AzuriteHandle;

/** Block ids of equal length, as the service requires within one blob. */
function blockId(n: number): string {
  return Buffer.from(`block-${String(n).padStart(5, '0')}`).toString('base64');
}

before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await azurite.stop();
});

async function newStore(): Promise<AzureBlobStore> {
  const store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('storage'));
  await store.ensureContainer();
  return store;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function commitSmall(store: BlobStore, name: string, content: string): Promise<{ etag: string }> {
  await store.stageBlock(name, blockId(1), Buffer.from(content));
  return store.commitBlocks(name, [blockId(1)], { metadata: {}, tags: {}, tier: 'Hot' });
}

async function names(store: BlobStore, prefix: string): Promise<string[]> {
  const result: string[] = [];
  for await (const item of store.list(prefix)) result.push(item.name);
  return result;
}

describe('AzureBlobStore against Azurite', () => {
  test('ensureContainer is idempotent and ping succeeds', async () => {
    const store = await newStore();
    await store.ensureContainer();
    await store.ping();
    assert.equal(store.endpoint, azurite.blobEndpoint);
  });

  test('staged blocks commit into a blob that downloads as identical bytes', async () => {
    const store = await newStore();
    const name = 'orders-db/20261121T020000Z-k3f9xq/dump.pgc.zst';
    const blocks = [randomBytes(1024 * 1024), randomBytes(300_000), randomBytes(17)];
    const ids = blocks.map((_, i) => blockId(i + 1));

    assert.deepEqual(await store.uncommittedBlockIds(name), new Set());
    for (const [i, data] of blocks.entries()) await store.stageBlock(name, ids[i]!, data);
    assert.deepEqual(await store.uncommittedBlockIds(name), new Set(ids));
    assert.equal(await store.properties(name), null, 'staged blocks are not a blob yet');

    const { etag } = await store.commitBlocks(name, ids, {
      metadata: { backup_id: '20261121T020000Z-k3f9xq' },
      tags: {},
      tier: 'Cool',
    });
    assert.deepEqual(await store.uncommittedBlockIds(name), new Set());

    const expected = Buffer.concat(blocks);
    const download = await store.download(name);
    assert.equal(download.size, expected.length);
    assert.equal(download.etag, etag);
    const actual = await readAll(download.stream);
    assert.equal(
      createHash('sha256').update(actual).digest('hex'),
      createHash('sha256').update(expected).digest('hex'),
    );
  });

  test('commit never overwrites an existing blob', async () => {
    const store = await newStore();
    await commitSmall(store, 'a/blob', 'original');
    await store.stageBlock('a/blob', blockId(1), Buffer.from('replacement'));
    await assert.rejects(
      store.commitBlocks('a/blob', [blockId(1)], { metadata: {}, tags: {}, tier: 'Hot' }),
      { name: 'StorageError', code: 'exists' },
    );
    assert.equal((await readAll((await store.download('a/blob')).stream)).toString(), 'original');
  });

  test('a whole-blob Content-MD5 given at commit is what a plain download reports (azcopy --check-md5)', async () => {
    const store = await newStore();
    const [one, two] = [randomBytes(1000), randomBytes(2000)];
    const md5 = createHash('md5').update(one).update(two).digest('base64');
    await store.stageBlock('m/blob', blockId(1), one);
    await store.stageBlock('m/blob', blockId(2), two);
    await store.commitBlocks('m/blob', [blockId(1), blockId(2)], {
      metadata: {},
      tags: {},
      tier: 'Hot',
      contentMd5: md5,
    });
    const sdk = BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient(store.container)
      .getBlobClient('m/blob');
    const props = await sdk.getProperties();
    assert.equal(Buffer.from(props.contentMD5 ?? []).toString('base64'), md5);
  });

  test('metadata, index tags and tier set on commit are read back', async () => {
    const store = await newStore();
    const metadata = { backup_type: 'postgres', target: 'orders-db', sha256: 'ab'.repeat(32) };
    const tags = { target: 'orders-db', status: 'uploaded' };
    for (const tier of ACCESS_TIERS) {
      const name = `t/${tier}`;
      await store.stageBlock(name, blockId(1), Buffer.from(tier));
      const { etag } = await store.commitBlocks(name, [blockId(1)], { metadata, tags, tier });
      const props = await store.properties(name);
      assert.ok(props);
      assert.equal(props.etag, etag);
      assert.equal(props.size, tier.length);
      assert.deepEqual(props.metadata, metadata);
      assert.equal(props.tier, tier);
      assert.ok(props.lastModified instanceof Date && !Number.isNaN(props.lastModified.getTime()));
      assert.deepEqual(await store.tags(name), tags);
    }
    const listed = [];
    for await (const item of store.list('t/')) listed.push([item.name, item.tier, item.size]);
    assert.deepEqual(listed, [
      ['t/Archive', 'Archive', 7],
      ['t/Cold', 'Cold', 4],
      ['t/Cool', 'Cool', 4],
      ['t/Hot', 'Hot', 3],
    ]);
  });

  test('setTags replaces the tags and setTier moves the blob through every tier', async () => {
    const store = await newStore();
    await commitSmall(store, 'b', 'x');
    await store.setTags('b', { target: 'orders-db', status: 'verified' });
    assert.deepEqual(await store.tags('b'), { target: 'orders-db', status: 'verified' });
    for (const tier of ['Cool', 'Cold', 'Archive'] as const) {
      await store.setTier('b', tier);
      assert.equal((await store.properties('b'))?.tier, tier);
    }
    await assert.rejects(store.download('b'), { code: 'unknown', message: /Archive tier/ });
    await assert.rejects(store.setTags('missing', { a: 'b' }), { code: 'not-found' });
  });

  test('a block corrupted after its MD5 was computed is rejected as an integrity error', async () => {
    const container = uniqueName('corrupt');
    await AzureBlobStore.fromConnectionString(azurite.connectionString, container).ensureContainer();
    // Flip one byte of every request body on its way out: what a faulty link or proxy would do.
    const corrupting: RequestPolicyFactory = {
      create: (next: RequestPolicy): RequestPolicy => ({
        sendRequest: (request: WebResource) => {
          if (Buffer.isBuffer(request.body) && request.body.length > 0) {
            const body = Buffer.from(request.body);
            body[0] = (body[0]! + 1) % 256;
            request.body = body;
          }
          return next.sendRequest(request);
        },
      }),
    };
    const pipeline = newPipeline(new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY), {
      retryOptions: { maxTries: 1 },
    });
    pipeline.factories.push(corrupting);
    const store = new AzureBlobStore(new BlobServiceClient(azurite.blobEndpoint, pipeline), container);

    await assert.rejects(store.stageBlock('c', blockId(1), Buffer.from('payload')), {
      name: 'StorageError',
      code: 'integrity',
      message: /Md5Mismatch/,
    });
    assert.deepEqual(await store.uncommittedBlockIds('c'), new Set());
  });

  test('writeJson honours ifNoneMatch, ifMatch and overwrite; readJson returns the value and etag', async () => {
    const store = await newStore();
    const name = 'orders-db/20261121T020000Z-k3f9xq/manifest.json';
    assert.equal(await store.readJson(name), null);

    const first = await store.writeJson(name, { status: 'dumped' }, { ifNoneMatch: '*' });
    assert.deepEqual(await store.readJson(name), { value: { status: 'dumped' }, etag: first.etag });
    await assert.rejects(store.writeJson(name, { status: 'evil' }, { ifNoneMatch: '*' }), { code: 'exists' });

    const second = await store.writeJson(name, { status: 'uploaded' }, { ifMatch: first.etag });
    assert.notEqual(second.etag, first.etag);
    await assert.rejects(store.writeJson(name, { status: 'lost update' }, { ifMatch: first.etag }), {
      code: 'precondition',
    });
    assert.deepEqual((await store.readJson(name))?.value, { status: 'uploaded' });

    const third = await store.writeJson(name, { status: 'verified' }, 'overwrite');
    assert.deepEqual(await store.readJson(name), { value: { status: 'verified' }, etag: third.etag });
    assert.equal(
      (await store.properties(name))?.size,
      Buffer.byteLength(`${JSON.stringify({ status: 'verified' }, null, 2)}\n`),
    );
  });

  test('readJson of a blob that is not JSON is an integrity error', async () => {
    const store = await newStore();
    await commitSmall(store, 'not.json', '{ truncated');
    await assert.rejects(store.readJson('not.json'), { code: 'integrity', message: /not valid JSON/ });
  });

  test('list returns only blobs under the prefix, with sizes', async () => {
    const store = await newStore();
    for (const name of ['a/1/x', 'a/1/y', 'a/2/x', 'ab/x', 'b/x']) await commitSmall(store, name, name);
    assert.deepEqual(await names(store, 'a/'), ['a/1/x', 'a/1/y', 'a/2/x']);
    assert.deepEqual(await names(store, 'a/1/'), ['a/1/x', 'a/1/y']);
    assert.deepEqual(await names(store, 'zzz/'), []);
    assert.equal((await names(store, '')).length, 5);
    for await (const item of store.list('b/')) {
      assert.equal(item.size, 3);
      assert.ok(item.lastModified instanceof Date);
    }
  });

  test('delete removes a blob, ignores an absent one and honours ifMatch', async () => {
    const store = await newStore();
    const { etag } = await commitSmall(store, 'd1', 'x');
    await commitSmall(store, 'd2', 'x');
    await store.delete('d1', { ifMatch: etag });
    assert.equal(await store.properties('d1'), null);
    await store.delete('d1');
    await assert.rejects(store.delete('d2', { ifMatch: etag }), { code: 'precondition' });
    await store.delete('d2');
    assert.deepEqual(await names(store, ''), []);
  });

  test('reading an absent blob: properties null, download and tags not-found', async () => {
    const store = await newStore();
    assert.equal(await store.properties('nope'), null);
    await assert.rejects(store.download('nope'), { code: 'not-found' });
    await assert.rejects(store.tags('nope'), { code: 'not-found' });
  });

  test('deleteMany deletes in batches of 256 (600 blobs: 3 requests); absent blobs are no failure', async () => {
    const store = await newStore();
    const all = Array.from({ length: 600 }, (_, i) => `batch/${String(i).padStart(4, '0')}.json`);
    for (let i = 0; i < all.length; i += 50)
      await Promise.all(all.slice(i, i + 50).map((name) => store.writeJson(name, { i }, 'overwrite')));
    await store.writeJson('batch-keep.json', { keep: true }, 'overwrite');
    const failures = await store.deleteMany([...all, 'batch/never-written.json']);
    assert.deepEqual([...failures.entries()], []);
    assert.deepEqual(await names(store, 'batch'), ['batch-keep.json']);
  });

  test('a batch the service refuses as a whole (a wrong key) fails every name in it, one line, no key', async () => {
    const wrongKey = Buffer.from('not the real key, not at all!!!!').toString('base64');
    const store = AzureBlobStore.fromConnectionString(
      azurite.connectionString.replace(AZURITE_ACCOUNT_KEY, wrongKey),
      uniqueName('batch-auth'),
    );
    const failures = await store.deleteMany(['a.json', 'b.json']);
    assert.deepEqual([...failures.keys()].sort(), ['a.json', 'b.json']);
    for (const error of failures.values()) {
      assert.equal(error.code, 'auth', error.message);
      assert.ok(!error.message.includes('\n') && !error.message.includes(wrongKey), error.message);
    }
  });

  test('a wrong account key is an auth error whose message does not leak the key', async () => {
    const wrongKey = Buffer.from('not the real key, not at all!!!!').toString('base64');
    const store = AzureBlobStore.fromConnectionString(
      azurite.connectionString.replace(AZURITE_ACCOUNT_KEY, wrongKey),
      uniqueName('auth'),
    );
    await assert.rejects(store.ping(), (err: Error) => {
      assert.equal((err as { code?: unknown }).code, 'auth');
      assert.ok(!err.message.includes(wrongKey));
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  });

  test('createBlobStore uses AZURE_STORAGE_CONNECTION_STRING', async () => {
    const store = createBlobStore({
      container: uniqueName('env'),
      env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString },
    });
    await store.ensureContainer();
    await store.writeJson('x.json', [1], 'overwrite');
    assert.deepEqual((await store.readJson('x.json'))?.value, [1]);
  });

  // Last: it stops the shared Azurite.
  test('an outage fails fast as unavailable and the same store recovers after restart', async () => {
    const store = await newStore();
    await store.writeJson('still-here.json', { ok: true }, { ifNoneMatch: '*' });
    await azurite.stop();
    try {
      const started = Date.now();
      await assert.rejects(store.readJson('still-here.json'), {
        name: 'StorageError',
        code: 'unavailable',
        message: `Blob Storage at ${azurite.blobEndpoint} is unreachable (connect ECONNREFUSED 127.0.0.1:${azurite.port})`,
      });
      await assert.rejects(store.ping(), { code: 'unavailable' });
      await assert.rejects(names(store, ''), { code: 'unavailable' });
      await assert.rejects(store.stageBlock('s', blockId(1), Buffer.from('x')), { code: 'unavailable' });
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started}ms`);
    } finally {
      await azurite.start();
    }
    await store.ping();
    assert.deepEqual((await store.readJson('still-here.json'))?.value, { ok: true });
  });
});
