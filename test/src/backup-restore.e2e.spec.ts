import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { RedisStreamEventBus } from '@tidemark/events';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { uniqueName, waitFor } from '@tidemark/testing';
import { createSeededDatabase, dbUrl, dropDatabase, schemaObjects, tableChecksums } from './support/database';
import { TestStack } from './support/stack';

const CONFIG = `
storage: { container: e2e-backups }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  nightly:
    schedule: "0 3 * * *"
    timezone: Europe/Berlin
    compression: zstd
    tiering: { initial: Cool }
    verify: { restoreTest: true }
targets:
  - { id: e2e-db, kind: postgres, url: "\${E2E_DB_URL}", policy: nightly }
`;

describe('a PostgreSQL backup end to end: five services, real Redis, Azurite and PostgreSQL', () => {
  const source = uniqueName('e2e_src').replaceAll('-', '_');
  const restored = uniqueName('e2e_dst').replaceAll('-', '_');
  let stack: TestStack;
  let backupId: string;
  let manifest: Manifest;

  before(async () => {
    const url = await createSeededDatabase(source);
    stack = await TestStack.start({ config: CONFIG, env: { E2E_DB_URL: url }, redisDb: 11 });
  });

  after(async () => {
    await stack.stop();
    await dropDatabase(source);
    await dropDatabase(restored);
  });

  test('tidemark backup --wait exits 0 once the backup is verified', async () => {
    const result = await stack.cli(['backup', 'e2e-db', '--wait', '--json', '--timeout', '300']);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const output = JSON.parse(result.stdout) as { backupId: string; status: string; coalesced: boolean };
    assert.equal(output.status, 'verified');
    assert.equal(output.coalesced, false);
    backupId = output.backupId;
    assert.match(backupId, /^\d{8}T\d{6}Z-[0-9a-z]{6}$/);
  });

  test('the manifest records the artifact, row counts and a passed restore test', async () => {
    const shown = await stack.cli(['show', backupId]);
    assert.equal(shown.code, 0, shown.stderr);
    manifest = parseManifest(JSON.parse(shown.stdout));
    assert.equal(manifest.status, 'verified');
    assert.equal(manifest.target.id, 'e2e-db');
    assert.equal(manifest.target.database, source);
    assert.match(manifest.target.serverVersion ?? '', /^\d+\.\d+/);
    assert.equal(manifest.artifact.compression, 'zstd');
    assert.equal(manifest.artifact.name, 'dump.pgc.zst');
    assert.ok(
      (manifest.artifact.rawSize ?? 0) > (manifest.artifact.size ?? 0),
      'compressed smaller than raw',
    );
    assert.equal(
      manifest.artifact.parts.reduce((n, p) => n + p.size, 0),
      manifest.artifact.size,
    );
    const orders = manifest.content.tables.find((t) => t.schema === 'shop' && t.name === 'orders');
    assert.equal(orders?.rows, 100_000);
    assert.equal(manifest.locations.remote?.blobName, `e2e-db/${backupId}/dump.pgc.zst`);
    assert.equal(manifest.locations.remote.tier, 'Cool');
    const verification = manifest.verification;
    assert.ok(verification, 'verification recorded');
    assert.equal(verification.checksum.ok, true);
    assert.equal(verification.structure?.ok, true);
    assert.equal(verification.restoreTest?.ok, true);
    assert.ok(verification.restoreTest.checks.length >= 5);
    assert.doesNotMatch(shown.stdout, /password|AccountKey/i);
  });

  test('the blob carries the metadata, index tags and tier of DESIGN §5', async () => {
    const container = BlobServiceClient.fromConnectionString(
      stack.azurite.connectionString,
    ).getContainerClient('e2e-backups');
    const blob = container.getBlobClient(`e2e-db/${backupId}/dump.pgc.zst`);
    const props = await blob.getProperties();
    const metadata = props.metadata ?? {};
    for (const key of [
      'backup_type',
      'target',
      'backup_id',
      'sha256',
      'created_at',
      'hostname',
      'tool_version',
    ]) {
      assert.ok(metadata[key], `metadata ${key}`);
    }
    assert.equal(metadata['sha256'], manifest.artifact.sha256);
    assert.equal(metadata['backup_id'], backupId);
    assert.equal(props.accessTier, 'Cool');
    assert.deepEqual((await blob.getTags()).tags, { target: 'e2e-db', status: 'verified' });
    const names: string[] = [];
    for await (const item of container.listBlobsFlat({ prefix: `e2e-db/${backupId}/` }))
      names.push(item.name);
    assert.deepEqual(names.sort(), [`e2e-db/${backupId}/dump.pgc.zst`, `e2e-db/${backupId}/manifest.json`]);
  });

  test('every stage published one CloudEvent, in order', async () => {
    const bus = new RedisStreamEventBus(stack.redisUrl);
    try {
      const events = (await bus.history({ backupId })).map((e) => e.event);
      // The pipeline's facts; the CLI's audit record of the trigger comes beside them, in no fixed place.
      assert.deepEqual(
        events.filter((e) => e.type.startsWith('tidemark.backup.')).map((e) => e.type),
        [
          'tidemark.backup.requested',
          'tidemark.backup.dumped',
          'tidemark.backup.uploaded',
          'tidemark.backup.verified',
        ],
      );
      const audits = events.filter((e) => e.type.startsWith('tidemark.audit.'));
      assert.deepEqual(
        audits.map((e) => [e.type, e.source]),
        [['tidemark.audit.backup_requested', '/tidemark/cli']],
      );
      for (const event of events) {
        assert.equal(event.specversion, '1.0');
        assert.equal(event.subject, `e2e-db/${backupId}`);
        assert.equal(event.severity, 'info');
      }
    } finally {
      await bus.close();
    }
  });

  test('each worker counts its stage in /metrics', async () => {
    const series = (stage: string): RegExp =>
      new RegExp(
        `tidemark_backups_total\\{[^}]*target="e2e-db"[^}]*stage="${stage}"[^}]*result="success"[^}]*\\} 1`,
      );
    assert.match(await stack.metrics('dumper'), series('dump'));
    assert.match(await stack.metrics('uploader'), series('upload'));
    assert.match(await stack.metrics('verifier'), series('verify'));
    assert.match(await stack.metrics('uploader'), /tidemark_upload_bytes_total\S* [1-9]/);
  });

  test('the scheduler derives per-target gauges from the catalog', async () => {
    const text = await waitFor(
      async () => {
        const body = await stack.metrics('scheduler');
        return /tidemark_backup_last_status\{[^}]*target="e2e-db"[^}]*\} 1/.test(body) ? body : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'catalog gauges for e2e-db' },
    );
    assert.match(text, /tidemark_backup_last_success_timestamp_seconds\{[^}]*target="e2e-db"[^}]*\} \d{10}/);
    assert.match(text, /tidemark_backup_age_seconds\{[^}]*target="e2e-db"[^}]*\} \d/);
    assert.match(text, /tidemark_queue_jobs\{[^}]*queue="dump"[^}]*state="completed"[^}]*\} 1/);
  });

  test('tidemark events prints the stream as CloudEvents', async () => {
    const result = await stack.cli(['events', '--target', 'e2e-db', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const types = result.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { type: string; subject: string }).type)
      .filter((type) => type.startsWith('tidemark.backup.'));
    assert.deepEqual(types.slice(0, 4), [
      'tidemark.backup.requested',
      'tidemark.backup.dumped',
      'tidemark.backup.uploaded',
      'tidemark.backup.verified',
    ]);
  });

  test('tidemark restore brings back identical content in a new database', async () => {
    const result = await stack.cli(['restore', 'e2e-db', '--to', '${RESTORE_URL}'], {
      RESTORE_URL: dbUrl(restored),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /sha256 verified/);
    assert.deepEqual(await tableChecksums(dbUrl(restored)), await tableChecksums(dbUrl(source)));
    assert.deepEqual(await schemaObjects(dbUrl(restored)), await schemaObjects(dbUrl(source)));
    const events = new RedisStreamEventBus(stack.redisUrl);
    try {
      const completed = (await events.history({ backupId })).filter(
        (e) => e.event.type === 'tidemark.restore.completed',
      );
      assert.equal(completed.length, 1);
      assert.doesNotMatch(JSON.stringify(completed[0]?.event), /password/i);
    } finally {
      await events.close();
    }
  });

  test('restore refuses a non-empty database unless --clean', async () => {
    const refused = await stack.cli(['restore', 'e2e-db', '--to', '${RESTORE_URL}'], {
      RESTORE_URL: dbUrl(restored),
    });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^tidemark: database "[^"]+" already has \d+ tables; pass --clean to replace them\n$/,
    );
    const events = new RedisStreamEventBus(stack.redisUrl);
    try {
      const failed = (await events.history({ targetId: 'e2e-db' })).filter(
        (e) => e.event.type === 'tidemark.restore.failed',
      );
      const [only] = failed;
      assert.ok(only && failed.length === 1, 'exactly one restore.failed');
      assert.equal(only.event.severity, 'error');
      assert.equal(only.event.data.error?.code, 'target-not-empty');
    } finally {
      await events.close();
    }
    const clean = await stack.cli(['restore', 'e2e-db', '--to', '${RESTORE_URL}', '--clean'], {
      RESTORE_URL: dbUrl(restored),
    });
    assert.equal(clean.code, 0, clean.stderr);
    assert.deepEqual(await tableChecksums(dbUrl(restored)), await tableChecksums(dbUrl(source)));
  });

  test('tidemark list and targets show the verified backup', async () => {
    const list = await stack.cli(['list', 'e2e-db', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { backupId: string; status: string }[];
    assert.deepEqual(
      rows.map((r) => [r.backupId, r.status]),
      [[backupId, 'verified']],
    );
    const targets = await stack.cli(['targets', '--json']);
    const rowsOfTargets = JSON.parse(targets.stdout) as {
      target: string;
      lastVerified: string;
      rpo: string;
    }[];
    assert.deepEqual(
      rowsOfTargets.map((r) => [r.target, r.lastVerified, r.rpo]),
      [['e2e-db', backupId, 'ok']],
    );
  });

  test('a flipped byte in the blob makes the verifier mark the backup corrupt', async () => {
    const container = BlobServiceClient.fromConnectionString(
      stack.azurite.connectionString,
    ).getContainerClient('e2e-backups');
    const blob = container.getBlockBlobClient(`e2e-db/${backupId}/dump.pgc.zst`);
    const props = await blob.getProperties();
    const data = await blob.downloadToBuffer();
    const middle = Math.floor(data.length / 2);
    data[middle] = (data[middle] ?? 0) ^ 0x01;
    await blob.uploadData(data, { metadata: props.metadata ?? {}, tier: 'Cool' });
    const result = await stack.cli(['verify', backupId]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /is corrupt: checksum/);
    const shown = parseManifest(JSON.parse((await stack.cli(['show', backupId])).stdout));
    assert.equal(shown.status, 'corrupt');
    assert.equal(shown.verification?.checksum.ok, false);
    const bus = new RedisStreamEventBus(stack.redisUrl);
    try {
      const corrupt = (await bus.history({ backupId })).filter(
        (e) => e.event.type === 'tidemark.backup.corrupt',
      );
      assert.equal(corrupt.length, 1);
      assert.equal(corrupt[0]?.event.severity, 'critical');
    } finally {
      await bus.close();
    }
    const refused = await stack.cli([
      'restore',
      'e2e-db',
      '--backup',
      backupId,
      '--to',
      '/tmp/never-written.pgc',
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is corrupt; only uploaded or verified backups can be restored/);
  });
});
