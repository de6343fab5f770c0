import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newManifest, type Manifest } from '@tidemark/manifest';
import { LocalTier } from './local-tier';

const BACKUP_ID = '20261121T020000Z-k3f9xq';

function manifest(targetId: string, backupId: string, localPath: string): Manifest {
  return newManifest({
    backupId,
    target: { id: targetId, kind: 'postgres', database: 'orders', serverVersion: '17.2' },
    policy: 'standard',
    trigger: 'manual',
    requestedAt: new Date('2026-11-21T02:00:00Z'),
    startedAt: new Date('2026-11-21T02:00:01Z'),
    format: {
      format: 'pg_dump-custom',
      extension: 'pgc',
      restoreCommand: 'pg_restore --no-owner -d <database>',
    },
    compression: 'zstd',
    localPath,
    dumpAttempt: 1,
    tool: { name: 'tidemark', version: '0.1.0', hostname: 'test', dumpTool: 'pg_dump 17.2' },
  });
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('LocalTier', () => {
  let base: string;
  let tier: LocalTier;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'tidemark-local-'));
    tier = new LocalTier(join(base, 'backups'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  test('ensureBackupDir creates root, target and backup directories with mode 0700', async () => {
    const dir = await tier.ensureBackupDir('orders-db', BACKUP_ID);
    assert.equal(dir, join(base, 'backups', 'orders-db', BACKUP_ID));
    assert.equal(tier.backupDir('orders-db', BACKUP_ID), dir);
    for (const path of [tier.root, join(tier.root, 'orders-db'), dir])
      assert.equal(await mode(path), 0o700, path);
    assert.equal(await tier.ensureBackupDir('orders-db', BACKUP_ID), dir);
  });

  test('ids and part names cannot escape the root', () => {
    assert.throws(() => tier.backupDir('../etc', BACKUP_ID), /not a target id/);
    assert.throws(() => tier.backupDir('orders-db', '..'), /not a backup id/);
    assert.throws(() => tier.partPath('orders-db', BACKUP_ID, '../../x'), /inside the backup directory/);
    assert.throws(() => tier.partPath('orders-db', BACKUP_ID, '/etc/passwd'), /inside the backup directory/);
    assert.equal(
      tier.partPath('orders-db', BACKUP_ID, 'dump.pgc.zst.part-00001'),
      join(tier.root, 'orders-db', BACKUP_ID, 'dump.pgc.zst.part-00001'),
    );
  });

  test('writeManifest writes mode 0600 atomically and readManifest parses it back', async () => {
    const m = manifest('billing', BACKUP_ID, tier.backupDir('billing', BACKUP_ID));
    assert.equal(await tier.readManifest('billing', BACKUP_ID), null);
    await tier.writeManifest(m);
    const path = join(tier.backupDir('billing', BACKUP_ID), 'manifest.json');
    assert.equal(await mode(path), 0o600);
    assert.deepEqual(await tier.readManifest('billing', BACKUP_ID), m);

    // Concurrent rewrites: every read sees one whole manifest, and no temporary file is left behind.
    const versions = Array.from({ length: 20 }, (_, i) => ({ ...m, policy: `p${i}` }));
    const reads: Promise<Manifest | null>[] = [];
    await Promise.all(
      versions.map(async (v) => {
        reads.push(tier.readManifest('billing', BACKUP_ID));
        await tier.writeManifest(v);
      }),
    );
    for (const read of await Promise.all(reads)) assert.match(read?.policy ?? '', /^(standard|p\d+)$/);
    assert.deepEqual(await readdir(tier.backupDir('billing', BACKUP_ID)), ['manifest.json']);
    assert.equal(await mode(path), 0o600);
  });

  test('writeManifest refuses an invalid manifest and readManifest rejects a damaged one', async () => {
    const m = manifest('broken', BACKUP_ID, 'x');
    await assert.rejects(tier.writeManifest({ ...m, status: 'bogus' as Manifest['status'] }), /status/);
    await tier.writeManifest(m);
    const path = join(tier.backupDir('broken', BACKUP_ID), 'manifest.json');
    await writeFile(path, '{"schemaVersion": 1,');
    await assert.rejects(tier.readManifest('broken', BACKUP_ID), {
      name: 'ManifestError',
      message: `${path}: not valid JSON`,
    });
    await writeFile(path, JSON.stringify({ ...m, schemaVersion: 2 }));
    await assert.rejects(tier.readManifest('broken', BACKUP_ID), {
      name: 'ManifestError',
      message: /schemaVersion/,
    });
  });

  test('listBackups lists backup directories sorted, ignoring strays; removeBackup deletes one', async () => {
    const t = new LocalTier(join(base, 'listing'));
    assert.deepEqual(await t.listBackups(), []);
    const later = '20261122T020000Z-aaaaaa';
    await t.ensureBackupDir('b-db', later);
    await t.ensureBackupDir('b-db', BACKUP_ID);
    await t.ensureBackupDir('a-db', BACKUP_ID);
    await writeFile(join(t.root, 'b-db', 'stray.txt'), 'x');
    await writeFile(join(t.root, 'README'), 'x');
    await t
      .ensureBackupDir('a-db', BACKUP_ID)
      .then(() => writeFile(join(t.partPath('a-db', BACKUP_ID, 'p1')), 'x'));
    assert.deepEqual(await t.listBackups(), [
      { targetId: 'a-db', backupId: BACKUP_ID },
      { targetId: 'b-db', backupId: BACKUP_ID },
      { targetId: 'b-db', backupId: later },
    ]);
    await t.removeBackup('a-db', BACKUP_ID);
    await t.removeBackup('a-db', BACKUP_ID);
    assert.deepEqual(await t.listBackups(), [
      { targetId: 'b-db', backupId: BACKUP_ID },
      { targetId: 'b-db', backupId: later },
    ]);
    assert.equal(await readFile(join(t.root, 'README'), 'utf8'), 'x');
  });

  test('freeBytes reports free space, creating a missing root', async () => {
    const t = new LocalTier(join(base, 'fresh', 'root'));
    const free = await t.freeBytes();
    assert.ok(Number.isSafeInteger(free) && free > 0, String(free));
    assert.equal(await mode(t.root), 0o700);
  });
});
