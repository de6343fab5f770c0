import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BlobServiceClient,
  newPipeline,
  StorageSharedKeyCredential,
  type HttpOperationResponse,
  type RequestPolicy,
  type RequestPolicyFactory,
  type WebResource,
} from '@azure/storage-blob';
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  startAzurite,
  uniqueName,
  type AzuriteHandle,
} from '@tidemark/testing';
import { StorageError } from '@tidemark/azure-blob-sdk';
import { AzureBlobStore, immutabilityFromProperties } from './azure-blob-store';

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

  test('the container does not say whether it has version-level immutability (null), and a missing one fails', async () => {
    const { store } = await committed();
    assert.equal(await store.versionImmutability(), null);
    const missing = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('absent'));
    assert.equal((await refusal(missing.versionImmutability())).code, 'not-found');
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

/** One request as it left the SDK: what a real account would receive. */
interface SentRequest {
  method: string;
  comp: string | null;
  headers: Record<string, string>;
}

/** Records the immutability requests on their way to Azurite (which then refuses them). */
function recording(sent: SentRequest[]): RequestPolicyFactory {
  return {
    create: (next: RequestPolicy): RequestPolicy => ({
      sendRequest: (request: WebResource): Promise<HttpOperationResponse> => {
        const comp = new URL(request.url).searchParams.get('comp');
        if (comp === 'immutabilityPolicies' || comp === 'legalhold') {
          const headers: Record<string, string> = {};
          for (const header of request.headers.headersArray())
            headers[header.name.toLowerCase()] = header.value;
          sent.push({ method: request.method, comp, headers });
        }
        return next.sendRequest(request);
      },
    }),
  };
}

describe('AzureBlobStore immutability requests', () => {
  test('are the ones Azure documents (Set/Delete Blob Immutability Policy, Set Blob Legal Hold)', async () => {
    const sent: SentRequest[] = [];
    const until = new Date('2027-01-15T10:20:30.000Z');
    const pipeline = newPipeline(new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY), {
      retryOptions: { maxTries: 1 },
    });
    pipeline.factories.push(recording(sent));
    const account = /BlobEndpoint=([^;]+)/.exec(azurite.connectionString)?.[1];
    assert.ok(account);
    const store = new AzureBlobStore(new BlobServiceClient(account, pipeline), uniqueName('requests'));
    await store.ensureContainer();
    const name = 't/b/artifact.bin';
    await store.stageBlock(name, blockId, Buffer.from('bytes'));
    await store.commitBlocks(name, [blockId], { metadata: {}, tags: {}, tier: 'Hot' });

    // One after the other, so the requests are recorded in this order.
    for (const call of [
      () => store.setImmutability(name, { until, mode: 'locked' }),
      () => store.setImmutability(name, { until, mode: 'unlocked' }),
      () => store.clearImmutability(name),
      () => store.setLegalHold(name, true),
      () => store.setLegalHold(name, false),
    ]) {
      assert.equal((await refusal(call())).code, 'not-supported');
    }
    assert.deepEqual(
      sent.map((request) => [
        request.method,
        request.comp,
        request.headers['x-ms-immutability-policy-until-date'],
        request.headers['x-ms-immutability-policy-mode'],
        request.headers['x-ms-legal-hold'],
      ]),
      [
        ['PUT', 'immutabilityPolicies', 'Fri, 15 Jan 2027 10:20:30 GMT', 'Locked', undefined],
        ['PUT', 'immutabilityPolicies', 'Fri, 15 Jan 2027 10:20:30 GMT', 'Unlocked', undefined],
        ['DELETE', 'immutabilityPolicies', undefined, undefined, undefined],
        ['PUT', 'legalhold', undefined, undefined, 'true'],
        ['PUT', 'legalhold', undefined, undefined, 'false'],
      ],
    );
  });
});

describe('immutabilityFromProperties', () => {
  const until = new Date('2027-01-15T10:20:30.000Z');

  test("reads Azure's lowercase modes, the SDK's capitalised ones and a legal hold", () => {
    assert.deepEqual(
      immutabilityFromProperties({ immutabilityPolicyExpiresOn: until, immutabilityPolicyMode: 'locked' }),
      {
        immutability: { until, mode: 'locked' },
      },
    );
    assert.deepEqual(
      immutabilityFromProperties({
        immutabilityPolicyExpiresOn: until,
        immutabilityPolicyMode: 'Unlocked',
        legalHold: true,
      }),
      { immutability: { until, mode: 'unlocked' }, legalHold: true },
    );
  });

  test('Mutable, a mode without an expiry, and no hold mean nothing', () => {
    assert.deepEqual(
      immutabilityFromProperties({ immutabilityPolicyExpiresOn: until, immutabilityPolicyMode: 'Mutable' }),
      {},
    );
    assert.deepEqual(immutabilityFromProperties({ immutabilityPolicyMode: 'locked', legalHold: false }), {});
    assert.deepEqual(immutabilityFromProperties({}), {});
  });
});
