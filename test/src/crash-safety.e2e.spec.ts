import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient } from '@azure/storage-blob';
import { RedisStreamEventBus } from '@tidemark/events';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { uniqueName, waitFor } from '@tidemark/testing';
import { createSeededDatabase, dbUrl, dropDatabase, tableChecksums, withClient } from './support/database';
import { TestStack } from './support/stack';

const CONFIG = `
storage: { container: e2e-crash }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  nightly:
    schedule: "0 3 * * *"
    timezone: UTC
    compression: zstd
    verify: { restoreTest: true }
targets:
  - { id: crash-db, kind: postgres, url: "\${CRASH_DB_URL}", policy: nightly }
`;

const databasesLike = (pattern: string): Promise<string[]> =>
  withClient(dbUrl('postgres'), async (c) =>
    (
      await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1', [
        pattern,
      ])
    ).rows.map((r) => r.datname),
  );

describe('nothing half-done: restores and restore tests that fail or die', () => {
  const source = uniqueName('crash_src').replaceAll('-', '_');
  const fresh = uniqueName('crash_new').replaceAll('-', '_');
  const existing = uniqueName('crash_old').replaceAll('-', '_');
  let stack: TestStack;
  let manifest: Manifest;

  const show = async (backupId: string): Promise<Manifest> => {
    const shown = await stack.cli(['show', backupId]);
    assert.equal(shown.code, 0, shown.stderr);
    return parseManifest(JSON.parse(shown.stdout));
  };

  before(async () => {
    const url = await createSeededDatabase(source);
    stack = await TestStack.start({
      config: CONFIG,
      env: { CRASH_DB_URL: url, TIDEMARK_SCRATCH_LEASE_MS: '2000' },
      redisDb: 1,
    });
  });

  after(async () => {
    await stack.stop();
    for (const name of [source, fresh, existing]) await dropDatabase(name);
  });

  test('a verifier killed with SIGKILL during the restore test: the retry verifies the backup, the scratch is dropped', async () => {
    const triggered = await stack.cli(['backup', 'crash-db', '--json']);
    assert.equal(triggered.code, 0, triggered.stderr);
    const { backupId } = JSON.parse(triggered.stdout) as { backupId: string };
    const scratchPattern = `tidemark\\_verify\\_${backupId.toLowerCase().replace(/[^a-z0-9]/g, '\\_')}%`;
    await waitFor(async () => (await databasesLike(scratchPattern)).length > 0, {
      timeoutMs: 120_000,
      intervalMs: 20,
      what: 'the restore test to create its scratch database',
    });
    await stack.stopService('verifier', 'SIGKILL');
    const left = await databasesLike(scratchPattern);
    assert.equal(left.length, 1, 'the dead test left its scratch database');
    await stack.restartService('verifier');
    await waitFor(async () => (await show(backupId)).status === 'verified', {
      timeoutMs: 180_000,
      intervalMs: 500,
      what: 'the backup to be verified after the verifier was killed',
    });
    manifest = await show(backupId);
    assert.equal(manifest.verification?.restoreTest?.ok, true);
    assert.notEqual(
      manifest.verification.restoreTest.scratch,
      left[0],
      'the retry used a scratch of its own',
    );
    // The leftover's lease lapses and the verifier's sweep drops it.
    await waitFor(async () => (await databasesLike(scratchPattern)).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'the leftover scratch database to be dropped',
    });
    const bus = new RedisStreamEventBus(stack.redisUrl);
    try {
      const types = (await bus.history({ backupId })).map((e) => e.event.type);
      assert.equal(types.filter((t) => t === 'tidemark.backup.failed').length, 0, types.join(', '));
      assert.equal(types.filter((t) => t === 'tidemark.backup.verified').length, 1, types.join(', '));
    } finally {
      await bus.close();
    }
    assert.match(stack.logs('verifier'), /dropped a scratch database left by a restore test that died/);
  });

  test('a damaged blob of a verified backup: restore fails and leaves a new and an existing target as they were', async () => {
    const container = BlobServiceClient.fromConnectionString(
      stack.azurite.connectionString,
    ).getContainerClient('e2e-crash');
    const blobName = manifest.locations.remote?.blobName ?? '';
    const blob = container.getBlockBlobClient(blobName);
    const props = await blob.getProperties();
    const data = await blob.downloadToBuffer();
    const at = Math.floor(data.length * 0.75);
    data[at] = (data[at] ?? 0) ^ 0x01;
    await blob.uploadData(data, { metadata: props.metadata ?? {} });
    assert.equal((await show(manifest.backupId)).status, 'verified', 'the catalog still says verified');

    const intoFresh = await stack.cli(['restore', 'crash-db', '--to', '${RESTORE_URL}'], {
      RESTORE_URL: dbUrl(fresh),
    });
    assert.equal(intoFresh.code, 1, intoFresh.stdout);
    assert.match(intoFresh.stderr, /^tidemark: .*checksum mismatch/);
    assert.doesNotMatch(intoFresh.stderr, /\n\s+at /);
    assert.deepEqual(await databasesLike(fresh), [], 'the new database was never created');

    await withClient(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE ${existing}`));
    await withClient(dbUrl(existing), (c) =>
      c.query('CREATE TABLE precious (id int); INSERT INTO precious SELECT generate_series(1, 42)'),
    );
    const before = await tableChecksums(dbUrl(existing));
    const overExisting = await stack.cli(['restore', 'crash-db', '--to', '${RESTORE_URL}', '--clean'], {
      RESTORE_URL: dbUrl(existing),
    });
    assert.equal(overExisting.code, 1, overExisting.stdout);
    assert.match(overExisting.stderr, /checksum mismatch/);
    assert.deepEqual(await tableChecksums(dbUrl(existing)), before, 'the old database is exactly as it was');
    await sleep(200);
    for (const name of [fresh, existing])
      assert.deepEqual(
        await databasesLike(`tidemark\\_re%${name}`),
        [],
        'no staging or replaced database is left',
      );
  });
});
