import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, type AzuriteHandle } from './azurite';
import { freePort, uniqueName } from './names';
import { waitFor } from './wait';

async function listContainers(endpoint: string): Promise<number> {
  const response = await fetch(`${endpoint}?comp=list`);
  await response.body?.cancel();
  return response.status;
}

describe('uniqueName', () => {
  test('is lowercase alphanumeric, starts with a letter, fits 63 chars and differs each call', () => {
    const names = new Set<string>();
    for (let i = 0; i < 200; i += 1) names.add(uniqueName('Orders_DB-Test'));
    assert.equal(names.size, 200);
    for (const name of names) {
      assert.match(name, /^ordersdbtest[a-z0-9]+$/);
    }
    assert.match(uniqueName('9-lives'), /^t9lives/);
    assert.ok(uniqueName('x'.repeat(100)).length <= 63);
  });
});

describe('freePort', () => {
  test('returns a port that can be listened on', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  });
});

describe('waitFor', () => {
  test('resolves with the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls += 1;
        return Promise.resolve(calls >= 3 ? 'ready' : undefined);
      },
      { timeoutMs: 2_000, intervalMs: 5, what: 'three calls' },
    );
    assert.equal(value, 'ready');
    assert.equal(calls, 3);
  });

  test('times out naming what it waited for and the last error', async () => {
    await assert.rejects(
      waitFor(() => Promise.reject(new Error('still booting')), {
        timeoutMs: 100,
        intervalMs: 10,
        what: 'the moon',
      }),
      { message: 'timed out after 100ms waiting for the moon (last error: still booting)' },
    );
  });
});

describe('startAzurite', () => {
  let azurite: AzuriteHandle;
  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    await azurite.stop();
  });

  test('answers on its endpoint with a usable connection string', async () => {
    assert.equal(azurite.blobEndpoint, `http://127.0.0.1:${azurite.port}/devstoreaccount1`);
    assert.match(azurite.connectionString, /AccountName=devstoreaccount1;AccountKey=[^;]+;/);
    assert.ok(azurite.connectionString.includes(`BlobEndpoint=${azurite.blobEndpoint};`));
    // Anonymous listing is refused, but any HTTP status proves the service is up.
    assert.equal(typeof (await listContainers(azurite.blobEndpoint)), 'number');
  });

  test('stop() takes it down, start() brings it back on the same port, kill() takes it down hard', async () => {
    await azurite.stop();
    await assert.rejects(listContainers(azurite.blobEndpoint));
    await azurite.start();
    assert.equal(typeof (await listContainers(azurite.blobEndpoint)), 'number');
    await azurite.kill();
    await assert.rejects(listContainers(azurite.blobEndpoint));
    await azurite.start();
    assert.equal(typeof (await listContainers(azurite.blobEndpoint)), 'number');
  });

  test('creates a missing data directory it is given and keeps its data across stop() and start()', async () => {
    const base = await mkdtemp(join(tmpdir(), 'tidemark-testing-'));
    const location = join(base, 'nested', 'azurite');
    const own = await startAzurite({ location });
    try {
      assert.equal(own.location, location);
      const service = BlobServiceClient.fromConnectionString(own.connectionString);
      const container = uniqueName('persist');
      await service.getContainerClient(container).create();
      await own.stop();
      await own.start();
      assert.equal(await service.getContainerClient(container).exists(), true);
    } finally {
      await own.stop();
      await rm(base, { recursive: true, force: true });
    }
  });

  test('a port already taken fails with a clear error instead of hanging', async () => {
    // Restart a stopped instance while a foreign listener squats on its port.
    const other = await startAzurite();
    await other.stop();
    const squat = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squat.listen(other.port, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      await assert.rejects(other.start(), {
        message: /^Azurite exited \(code 1\) before it was ready: .*EADDRINUSE/,
      });
      assert.ok(Date.now() - started < 30_000);
    } finally {
      await new Promise<void>((resolve) =>
        squat.close(() => {
          resolve();
        }),
      );
    }
  });
});
