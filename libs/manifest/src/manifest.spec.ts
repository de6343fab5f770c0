import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  artifactBlobName,
  artifactName,
  backupIdTime,
  blockId,
  canTransition,
  isBackupId,
  manifestBlobName,
  markDumped,
  markFailed,
  markUploaded,
  markUnreadable,
  markVerification,
  verificationPassed,
  newBackupId,
  newManifest,
  parseManifest,
  parseManifestBlobName,
  partBlockIds,
  partFileName,
  type Manifest,
  type Verification,
} from './index';

const sha = 'a'.repeat(64);

function fresh(encryption?: Parameters<typeof newManifest>[0]['encryption']): Manifest {
  return newManifest({
    encryption,
    backupId: '20261121T020000Z-k3f9xq',
    target: { id: 'orders-db', kind: 'postgres', database: 'orders', serverVersion: '15.20' },
    policy: 'standard',
    trigger: 'schedule',
    requestedAt: new Date('2026-11-21T02:00:00Z'),
    startedAt: new Date('2026-11-21T02:00:01Z'),
    format: {
      format: 'pg_dump-custom',
      extension: 'pgc',
      restoreCommand: 'pg_restore --no-owner -d <database>',
    },
    compression: 'zstd',
    localPath: '/backups/orders-db/20261121T020000Z-k3f9xq',
    dumpAttempt: 1,
    tool: { name: 'tidemark', version: '0.1.0', hostname: 'h', dumpTool: 'pg_dump 15.20' },
  });
}

const verification = (ok: boolean): Verification => ({
  at: '2026-11-21T02:10:00.000Z',
  checksum: { ok, expected: sha, actual: ok ? sha : 'b'.repeat(64), bytes: 10 },
  structure: { ok: true, tool: 'pg_restore --list', entries: 30 },
  restoreTest: null,
});

describe('backup ids', () => {
  test('encode the UTC start time, sort by time and carry 6 base36 characters', () => {
    const id = newBackupId(new Date('2026-11-21T02:00:00.123Z'), () => 35);
    assert.equal(id, '20261121T020000Z-zzzzzz');
    assert.ok(isBackupId(id));
    assert.deepEqual(backupIdTime(id), new Date('2026-11-21T02:00:00Z'));
    assert.ok(newBackupId(new Date('2026-11-21T02:00:00Z')) < newBackupId(new Date('2026-11-21T02:00:01Z')));
    assert.equal(isBackupId('2026-11-21-abc'), false);
    assert.throws(() => backupIdTime('nope'), /"nope" is not a backup id/);
  });
});

describe('naming', () => {
  test('blob layout of DESIGN §5', () => {
    const format = { format: 'pg_dump-custom', extension: 'pgc', restoreCommand: 'pg_restore -d <database>' };
    assert.equal(artifactName(format, 'zstd'), 'dump.pgc.zst');
    assert.equal(artifactName(format, 'gzip'), 'dump.pgc.gz');
    assert.equal(artifactName(format, 'none'), 'dump.pgc');
    assert.equal(
      artifactBlobName('orders-db', '20261121T020000Z-k3f9xq', 'dump.pgc.zst'),
      'orders-db/20261121T020000Z-k3f9xq/dump.pgc.zst',
    );
    assert.equal(
      manifestBlobName('orders-db', '20261121T020000Z-k3f9xq'),
      'orders-db/20261121T020000Z-k3f9xq/manifest.json',
    );
    assert.deepEqual(parseManifestBlobName('orders-db/20261121T020000Z-k3f9xq/manifest.json'), {
      targetId: 'orders-db',
      backupId: '20261121T020000Z-k3f9xq',
    });
    assert.equal(parseManifestBlobName('orders-db/20261121T020000Z-k3f9xq/dump.pgc.zst'), null);
  });

  test('an encrypted artifact: `.age` suffix, public recipients, and a stock-tool restore hint through age', () => {
    const format = { format: 'pg_dump-custom', extension: 'pgc', restoreCommand: 'pg_restore -d <database>' };
    assert.equal(artifactName(format, 'zstd', true), 'dump.pgc.zst.age');
    assert.equal(artifactName(format, 'none', true), 'dump.pgc.age');
    const age = { recipients: ['age1ops', 'age1breakglass'], fingerprint: 'sha256:0123456789abcdef' };
    const manifest = parseManifest(fresh(age));
    assert.equal(manifest.artifact.name, 'dump.pgc.zst.age');
    assert.equal(manifest.artifact.encryption, 'age');
    assert.deepEqual(manifest.artifact.age, age);
    assert.match(
      manifest.restoreHint ?? '',
      /then: age -d -i <identity file> dump\.pgc\.zst\.age \| zstd -dc \| pg_restore --no-owner -d <database>$/,
    );
    const plain = fresh();
    assert.equal(plain.artifact.encryption, 'none');
    assert.equal(plain.artifact.age, undefined);
    assert.match(plain.restoreHint ?? '', /then: zstd -dc dump\.pgc\.zst \| pg_restore/);
  });

  test('part files and block ids differ per dump run and have one length within a blob', () => {
    assert.equal(partFileName('dump.pgc.zst', 2, 7), 'dump.pgc.zst.a02.part-00007');
    assert.notEqual(blockId(1, 1, 0), blockId(2, 1, 0));
    const ids = partBlockIds(1, { index: 3, size: 8 * 1024 * 1024 * 2 + 1 });
    assert.equal(ids.length, 3);
    assert.equal(new Set([...ids, blockId(1, 99999, 99999)].map((id) => id.length)).size, 1);
    assert.deepEqual(partBlockIds(1, { index: 1, size: 0 }), []);
  });
});

describe('status transitions', () => {
  test('follow dumping → dumped → uploaded → verified', () => {
    const dumped = markDumped(
      fresh(),
      { size: 10, rawSize: 30, sha256: sha, parts: [{ index: 1, size: 10, sha256: sha, file: 'p1' }] },
      new Date('2026-11-21T02:05:00Z'),
    );
    assert.equal(dumped.status, 'dumped');
    assert.equal(dumped.timestamps.dumpedAt, '2026-11-21T02:05:00.000Z');
    const uploaded = markUploaded(
      dumped,
      { container: 'c', blobName: 'b', etag: 'e', tier: 'Cool' },
      new Date(),
    );
    assert.equal(uploaded.status, 'uploaded');
    const verified = markVerification(uploaded, verification(true));
    assert.equal(verified.status, 'verified');
    assert.equal(verified.timestamps.verifiedAt, '2026-11-21T02:10:00.000Z');
    assert.equal(markVerification(verified, verification(false)).status, 'corrupt');
    assert.equal(parseManifest(JSON.parse(JSON.stringify(verified))).status, 'verified');
  });

  test('refuse illegal moves', () => {
    assert.throws(
      () => markUploaded(fresh(), { container: 'c', blobName: 'b', etag: null, tier: null }, new Date()),
      /cannot move from dumping to uploaded/,
    );
    assert.equal(canTransition('failed', 'verified'), false);
    assert.equal(canTransition('corrupt', 'verified'), false);
    assert.equal(canTransition('verified', 'failed'), false);
    assert.equal(canTransition('uploaded', 'uploaded'), true, 'retries repeat a status');
    const failed = markFailed(fresh(), {
      stage: 'dump',
      code: 'x',
      message: 'boom',
      at: '2026-11-21T02:01:00.000Z',
    });
    assert.equal(failed.status, 'failed');
    assert.throws(
      () => markDumped(failed, { size: 1, rawSize: 1, sha256: sha, parts: [] }, new Date()),
      /cannot move from failed/,
    );
  });

  test('an uploaded backup failing verification becomes corrupt', () => {
    const dumped = markDumped(fresh(), { size: 1, rawSize: 1, sha256: sha, parts: [] }, new Date());
    const uploaded = markUploaded(
      dumped,
      { container: 'c', blobName: 'b', etag: 'e', tier: 'Cool' },
      new Date(),
    );
    assert.equal(markVerification(uploaded, verification(false)).status, 'corrupt');
  });

  test('an unreadable verification is recorded on an uploaded backup and leaves every status as it was', () => {
    const dumped = markDumped(fresh(), { size: 1, rawSize: 1, sha256: sha, parts: [] }, new Date());
    const uploaded = markUploaded(
      dumped,
      { container: 'c', blobName: 'b', etag: 'e', tier: 'Cool' },
      new Date(),
    );
    const unread: Verification = {
      ...verification(true),
      structure: null,
      restoreTest: null,
      unreadable: { code: 'key-missing', message: 'no identity' },
    };
    const recorded = markUnreadable(uploaded, unread);
    assert.equal(recorded.status, 'uploaded');
    assert.equal(recorded.verification?.unreadable?.code, 'key-missing');
    assert.equal(recorded.timestamps.verifiedAt, undefined);
    assert.equal(verificationPassed(unread), false, 'an unread backup never counts as verified');
    assert.equal(
      parseManifest(JSON.parse(JSON.stringify(recorded))).verification?.unreadable?.code,
      'key-missing',
    );
    // A later pass without the key says nothing new about a verified backup.
    const verified = markVerification(uploaded, verification(true));
    assert.deepEqual(markUnreadable(verified, unread), verified);
    // With the key, a full verification replaces the unread one.
    const then = markVerification(recorded, verification(true));
    assert.equal(then.status, 'verified');
    assert.equal(then.verification?.unreadable, undefined);
    assert.throws(() => markUnreadable(uploaded, verification(true)), /says why/);
  });
});

describe('parseManifest', () => {
  test('names the first invalid field', () => {
    const bad = { ...fresh(), artifact: { ...fresh().artifact, sha256: 'xyz' } };
    assert.throws(
      () => parseManifest(bad, 'orders-db/x/manifest.json'),
      /orders-db\/x\/manifest\.json: artifact\.sha256: a sha256 is 64 lowercase hex characters/,
    );
    assert.throws(() => parseManifest({ schemaVersion: 2 }), /schemaVersion/);
  });
});
