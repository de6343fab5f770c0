import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  chainMembers,
  fullChain,
  isBackupId,
  memberBackupId,
  neededMembers,
  newManifest,
  nextChainLink,
  type BackupStatus,
  type FileEntry,
  type Manifest,
} from './index';

/** A directory backup `id` whose listing says which backup holds each file. */
function backup(
  id: string,
  parent: string | null,
  position: number,
  files: Record<string, string>,
  status: BackupStatus = 'verified',
): Manifest {
  const base = newManifest({
    backupId: id,
    target: { id: 'dir', kind: 'directory', database: '/data', serverVersion: 'directory' },
    policy: 'p',
    trigger: 'schedule',
    requestedAt: new Date('2026-11-21T02:00:00Z'),
    startedAt: new Date('2026-11-21T02:00:00Z'),
    format: { format: 'tar', extension: 'tar', restoreCommand: 'tar -x -C <dir>' },
    compression: 'zstd',
    localPath: '/x',
    dumpAttempt: 1,
    tool: { name: 'tidemark', version: '0', hostname: 'h', dumpTool: null },
  });
  const listing: FileEntry[] = Object.entries(files).map(([path, holder]) => ({
    path,
    type: 'file',
    size: 1,
    in: holder,
  }));
  return {
    ...base,
    status,
    chain: { base: position === 0 ? id : 'full', parent, position },
    content: { tables: [], files: listing },
  };
}

const ID = (n: number): string => `20261121T02000${String(n)}Z-aaaaa${String(n)}`;

describe('chains', () => {
  const full = backup(ID(0), null, 0, { a: ID(0), b: ID(0) });
  const inc1 = backup(ID(1), ID(0), 1, { a: ID(1), b: ID(0) });
  const inc2 = backup(ID(2), ID(1), 2, { a: ID(1), b: ID(0) }); // deletions or nothing changed: holds no bytes
  const byId = new Map([full, inc1, inc2].map((m) => [m.backupId, m]));

  test('members run from the full to the point; only those holding needed bytes are read', () => {
    assert.deepEqual(
      chainMembers(inc2, byId)?.map((m) => m.backupId),
      [ID(0), ID(1), ID(2)],
    );
    assert.deepEqual(
      neededMembers(inc2, [full, inc1, inc2]).map((m) => m.backupId),
      [ID(0), ID(1)],
    );
  });

  test('a failed or missing member breaks the chain', () => {
    const broken = new Map(byId);
    broken.set(ID(1), { ...inc1, status: 'failed' });
    assert.equal(chainMembers(inc2, broken), null);
    broken.delete(ID(1));
    assert.equal(chainMembers(inc2, broken), null);
    const deleting = new Map(byId);
    deleting.set(ID(0), { ...full, deletion: { at: '2026-11-22T00:00:00.000Z', reason: 'expired' } });
    assert.equal(chainMembers(inc2, deleting), null);
  });

  test('the next backup attaches to the newest usable one until the chain is fullEvery long', () => {
    assert.deepEqual(nextChainLink([full, inc1], 6)?.chain, { base: 'full', parent: ID(1), position: 2 });
    assert.equal(nextChainLink([full, inc1, inc2], 3), null, 'a chain of 3 is complete: take a full');
    assert.equal(nextChainLink([], 6), null, 'nothing to build on: take a full');
  });

  test('a corrupt newest backup or a broken chain means a new full', () => {
    assert.deepEqual(
      nextChainLink([full, inc1, { ...inc2, status: 'corrupt' }], 6)?.previous.backupId,
      ID(1),
    );
    assert.equal(nextChainLink([{ ...full, status: 'failed' }, inc1], 6), null);
  });

  test('a full is a chain of one', () => {
    assert.deepEqual(fullChain(ID(0)), { base: ID(0), parent: null, position: 0 });
  });
});

describe('run members', () => {
  test('are deterministic per run and member, valid backup ids at the run time', () => {
    const run = '20261121T020000Z-k3f9xq';
    const a = memberBackupId(run, 'orders');
    assert.equal(a, memberBackupId(run, 'orders'));
    assert.notEqual(a, memberBackupId(run, 'billing'));
    assert.notEqual(a, memberBackupId('20261121T020000Z-zzzzzz', 'orders'));
    assert.ok(isBackupId(a));
    assert.ok(a.startsWith('20261121T020000Z-'));
  });
});
