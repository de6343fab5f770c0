import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { MemoryBlobStore } from '@tidemark/testing-storage';
import {
  DEFAULT_SEGMENT_BYTES,
  partialBlobName,
  readWalBlobMetadata,
  segmentBlobName,
  walBlobMetadata,
} from '@tidemark/wal';
import { walBlockId, WAL_BLOCK_SIZE } from './streams';
import { type ArchivedWalFile, WalArchive } from './wal-archive';
import { WalArchiveError } from './wal-archive-error';

const TARGET = 'orders';
const RECEIVED = new Date('2026-12-03T08:00:00.000Z');
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wal-archive-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file of segment size: WAL records (random bytes) at the start, zero-filled tail, as a lightly used segment. */
async function segmentFile(
  name: string,
  randomPrefix = 256 * 1024,
): Promise<{ path: string; sha256: string }> {
  const data = Buffer.alloc(DEFAULT_SEGMENT_BYTES);
  randomBytes(randomPrefix).copy(data);
  const path = join(dir, `${name}-${randomBytes(4).toString('hex')}`);
  await writeFile(path, data);
  return { path, sha256: createHash('sha256').update(data).digest('hex') };
}

function segmentName(timeline: number, segno: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}00000000${segno.toString(16).toUpperCase().padStart(8, '0')}`;
}

async function commit(archive: WalArchive, timeline: number, segno: number): Promise<void> {
  const { path } = await segmentFile(segmentName(timeline, segno), 4096);
  await archive.commitSegment({
    targetId: TARGET,
    timeline,
    file: segmentName(timeline, segno),
    path,
    receivedAt: RECEIVED,
    route: 'stream',
  });
}

async function commitHistoryText(archive: WalArchive, timeline: number, text: string): Promise<void> {
  const path = join(dir, `history-${randomBytes(4).toString('hex')}`);
  await writeFile(path, text);
  await archive.commitHistory({ targetId: TARGET, timeline, path, receivedAt: RECEIVED, route: 'spool' });
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: WalArchiveError['code'],
): Promise<WalArchiveError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof WalArchiveError, `expected WalArchiveError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes('\n'));
    return error;
  }
  assert.fail(`expected WalArchiveError ${code}`);
}

function find(files: ArchivedWalFile[], blobName: string): ArchivedWalFile {
  const file = files.find((f) => f.blobName === blobName);
  assert.ok(file, `${blobName} not listed`);
  return file;
}

describe('commitSegment', () => {
  const file = segmentName(1, 3);
  const blob = segmentBlobName(TARGET, 1, file);

  test('archives a segment compressed, with metadata of the raw bytes, then a retry is a duplicate', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    const { path, sha256 } = await segmentFile(file);
    const input = {
      targetId: TARGET,
      timeline: 1,
      file,
      path,
      receivedAt: RECEIVED,
      route: 'stream' as const,
    };
    const first = await archive.commitSegment(input);
    assert.equal(first.result, 'archived');
    assert.equal(first.rawBytes, DEFAULT_SEGMENT_BYTES);
    assert.equal(first.sha256, sha256);
    assert.ok(first.compressedBytes < DEFAULT_SEGMENT_BYTES / 8, `compressed to ${first.compressedBytes}`);
    const props = await store.properties(blob);
    assert.equal(props?.tier, 'Cool');
    assert.deepEqual(readWalBlobMetadata(props.metadata), {
      sha256,
      size: DEFAULT_SEGMENT_BYTES,
      receivedat: RECEIVED.toISOString(),
      timeline: 1,
      route: 'stream',
    });
    const again = await archive.commitSegment({ ...input, route: 'spool' });
    assert.deepEqual(again, { ...first, result: 'duplicate' });
  });

  test('different bytes under an archived name are a conflict naming the blob, and the blob is kept', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store, { tier: 'Hot' });
    const a = await segmentFile(file);
    const b = await segmentFile(file);
    await archive.commitSegment({
      targetId: TARGET,
      timeline: 1,
      file,
      path: a.path,
      receivedAt: RECEIVED,
      route: 'stream',
    });
    const before = store.bytes(blob);
    const error = await rejectsWith(
      archive.commitSegment({
        targetId: TARGET,
        timeline: 1,
        file,
        path: b.path,
        receivedAt: RECEIVED,
        route: 'spool',
      }),
      'conflict',
    );
    assert.match(error.message, new RegExp(blob));
    assert.deepEqual(store.bytes(blob), before);
    assert.equal((await store.properties(blob))?.tier, 'Hot');
  });

  test('an upload left with staged blocks and no commit does not block the next attempt', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    // Incompressible: the compressed segment spans several blocks.
    const { path, sha256 } = await segmentFile(file, DEFAULT_SEGMENT_BYTES);
    for (let block = 0; block < 3; block++)
      await store.stageBlock(blob, walBlockId(block), randomBytes(1000));
    const result = await archive.commitSegment({
      targetId: TARGET,
      timeline: 1,
      file,
      path,
      receivedAt: RECEIVED,
      route: 'stream',
    });
    assert.equal(result.result, 'archived');
    assert.ok(result.compressedBytes > 3 * WAL_BLOCK_SIZE);
    const dest = join(dir, 'fetched-multi-block');
    await archive.fetch(find(await archive.list(TARGET), blob), dest);
    assert.equal(
      createHash('sha256')
        .update(await readFile(dest))
        .digest('hex'),
      sha256,
    );
  });

  test('storage failures are WalArchiveError storage', async () => {
    const store = new MemoryBlobStore();
    store.failNext('commitBlocks');
    const { path } = await segmentFile(file);
    await rejectsWith(
      new WalArchive(store).commitSegment({
        targetId: TARGET,
        timeline: 1,
        file,
        path,
        receivedAt: RECEIVED,
        route: 'stream',
      }),
      'storage',
    );
  });
});

describe('immutable storage (storage.immutability)', () => {
  const file = segmentName(1, 5);
  const blob = segmentBlobName(TARGET, 1, file);
  const until = new Date(Date.now() + 35 * 86_400_000);

  let path: string;
  before(async () => {
    ({ path } = await segmentFile(file));
  });

  function input(protection?: { until: Date; mode: 'locked' | 'unlocked' }) {
    return {
      targetId: TARGET,
      timeline: 1,
      file,
      path,
      receivedAt: RECEIVED,
      route: 'stream' as const,
      protection,
    };
  }

  test('a committed segment and history file are locked; the lock is listed and refuses deletion', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    await archive.commitSegment(input({ until, mode: 'locked' }));
    const historyPath = join(dir, `history-${randomBytes(4).toString('hex')}`);
    await writeFile(historyPath, '1\t0/3800000\tno recovery target specified\n');
    await archive.commitHistory({
      targetId: TARGET,
      timeline: 2,
      path: historyPath,
      receivedAt: RECEIVED,
      route: 'stream',
      protection: { until, mode: 'locked' },
    });
    const files = await archive.list(TARGET);
    assert.deepEqual(find(files, blob).immutability, { until, mode: 'locked' });
    assert.deepEqual(find(files, 'orders/wal/00000002/00000002.history.zst').immutability, {
      until,
      mode: 'locked',
    });
    await assert.rejects(store.delete(blob), { code: 'immutable' });
  });

  test('a lock that failed is set by the retry that finds the segment already there', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    store.failNext('setImmutability');
    await rejectsWith(archive.commitSegment(input({ until, mode: 'locked' })), 'storage');
    assert.equal((await store.properties(blob))?.immutability, undefined);
    const retry = await archive.commitSegment(input({ until, mode: 'locked' }));
    assert.equal(retry.result, 'duplicate');
    assert.deepEqual((await store.properties(blob))?.immutability, { until, mode: 'locked' });
  });

  test('a later delivery with an earlier end never shortens an unlocked lock; an expired one is not set', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    await archive.commitSegment(input({ until, mode: 'unlocked' }));
    const shorter = new Date(until.getTime() - 86_400_000);
    await archive.commitSegment(input({ until: shorter, mode: 'unlocked' }));
    assert.deepEqual((await store.properties(blob))?.immutability, { until, mode: 'unlocked' });

    const other = new MemoryBlobStore();
    await new WalArchive(other).commitSegment(input({ until: new Date(Date.now() - 1000), mode: 'locked' }));
    assert.equal((await other.properties(blob))?.immutability, undefined);
  });

  test('a store without immutability fails the commit with one line naming the container', async () => {
    const store = new MemoryBlobStore('memory', { immutability: 'unsupported' });
    const error = await rejectsWith(
      new WalArchive(store).commitSegment(input({ until, mode: 'locked' })),
      'storage',
    );
    assert.match(error.message, /does not implement version-level immutability/);
    assert.match(error.message, new RegExp(`container ${store.container}`));
  });
});

describe('commitHistory', () => {
  test('archives a history file once; the same bytes again are a duplicate, other bytes a conflict', async () => {
    const archive = new WalArchive(new MemoryBlobStore());
    await commitHistoryText(archive, 2, '1\t0/3800000\tno recovery target specified\n');
    await commitHistoryText(archive, 2, '1\t0/3800000\tno recovery target specified\n');
    await rejectsWith(commitHistoryText(archive, 2, '1\t0/4000000\tother\n'), 'conflict');
    const [history] = await archive.list(TARGET);
    assert.equal(history?.kind, 'history');
    assert.equal(history.file, '00000002.history');
    assert.equal(await archive.readText(history), '1\t0/3800000\tno recovery target specified\n');
  });
});

describe('partials', () => {
  test('a partial is replaced by every ship and removed once its segment is archived', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    const file = segmentName(1, 5);
    const blob = partialBlobName(TARGET, 1, file);
    const first = await segmentFile('partial1');
    const second = await segmentFile('partial2');
    const ship = (path: string, endLsn: string) =>
      archive.shipPartial({
        targetId: TARGET,
        timeline: 1,
        file,
        path,
        receivedAt: RECEIVED,
        endLsn,
        route: 'stream',
      });
    await ship(first.path, '0/5040000');
    await ship(second.path, '0/5080000');
    const listed = find(await archive.list(TARGET), blob);
    assert.equal(listed.kind, 'partial');
    assert.equal(listed.metadata?.sha256, second.sha256);
    assert.equal(listed.metadata.endlsn, '0/5080000');
    const dest = join(dir, 'partial-fetched');
    await archive.fetch(listed, dest);
    assert.equal(
      createHash('sha256')
        .update(await readFile(dest))
        .digest('hex'),
      second.sha256,
    );
    await archive.removePartial(TARGET, 1, file);
    assert.equal(await store.properties(blob), null);
    await archive.removePartial(TARGET, 1, file);
  });
});

describe('list', () => {
  test('newestSegment is the highest complete segment of the newest timeline, never a partial', async () => {
    const archive = new WalArchive(new MemoryBlobStore());
    assert.equal(await archive.newestSegment(TARGET), null);
    await commit(archive, 1, 7);
    await commit(archive, 1, 3);
    assert.deepEqual(await archive.newestSegment(TARGET), { timeline: 1, file: segmentName(1, 7) });
    await commit(archive, 2, 6);
    const { path } = await segmentFile('p');
    await archive.shipPartial({
      targetId: TARGET,
      timeline: 2,
      file: segmentName(2, 8),
      path,
      receivedAt: RECEIVED,
      route: 'stream',
    });
    assert.deepEqual(await archive.newestSegment(TARGET), { timeline: 2, file: segmentName(2, 6) });
  });

  test('lists segments, partials and histories sorted by timeline and file, foreign blobs with null metadata', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    await commit(archive, 2, 4);
    await commit(archive, 1, 3);
    await commitHistoryText(archive, 2, '1\t0/4000000\tx\n');
    const { path } = await segmentFile('p');
    await archive.shipPartial({
      targetId: TARGET,
      timeline: 2,
      file: segmentName(2, 5),
      path,
      receivedAt: RECEIVED,
      route: 'stream',
    });
    const foreign = segmentBlobName(TARGET, 1, segmentName(1, 4));
    await store.stageBlock(foreign, walBlockId(0), Buffer.from('not zstd'));
    await store.commitBlocks(foreign, [walBlockId(0)], { metadata: {}, tags: {}, tier: 'Hot' });
    await store.stageBlock('orders/wal/notes.txt', walBlockId(0), Buffer.from('x'));
    await store.commitBlocks('orders/wal/notes.txt', [walBlockId(0)], {
      metadata: {},
      tags: {},
      tier: 'Hot',
    });
    const files = await archive.list(TARGET);
    assert.deepEqual(
      files.map((f) => [f.timeline, f.file, f.kind, f.metadata === null]),
      [
        [1, segmentName(1, 3), 'segment', false],
        [1, segmentName(1, 4), 'segment', true],
        [2, '00000002.history', 'history', false],
        [2, segmentName(2, 4), 'segment', false],
        [2, segmentName(2, 5), 'partial', false],
      ],
    );
    const first = files[0] as ArchivedWalFile;
    assert.equal(first.compressedBytes, store.bytes(first.blobName)?.length);
    assert.equal(first.tier, 'Cool');
  });
});

describe('fetch', () => {
  const file = segmentName(1, 7);
  const blob = segmentBlobName(TARGET, 1, file);

  test('writes the raw segment at dest; a flipped byte is checksum-mismatch and leaves nothing behind', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    const { path } = await segmentFile(file);
    await archive.commitSegment({
      targetId: TARGET,
      timeline: 1,
      file,
      path,
      receivedAt: RECEIVED,
      route: 'stream',
    });
    const out = await mkdtemp(join(dir, 'fetch-'));
    const listed = find(await archive.list(TARGET), blob);
    await archive.fetch(listed, join(out, file));
    assert.deepEqual(await readFile(join(out, file)), await readFile(path));
    store.corrupt(blob, (data) => {
      const at = Math.floor(data.length / 2);
      data[at] = (data[at] ?? 0) ^ 0x01;
      return data;
    });
    await rejectsWith(archive.fetch(listed, join(out, 'again')), 'checksum-mismatch');
    assert.deepEqual(await readdir(out), [file]);
  });

  test('valid zstd whose bytes differ from the metadata is checksum-mismatch; a deleted blob is missing', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    const a = await segmentFile(file);
    await archive.commitSegment({
      targetId: TARGET,
      timeline: 1,
      file,
      path: a.path,
      receivedAt: RECEIVED,
      route: 'stream',
    });
    const listed = find(await archive.list(TARGET), blob);
    const lying = { ...listed, metadata: { ...(listed.metadata ?? assert.fail()), sha256: '0'.repeat(64) } };
    const dest = join(dir, 'lying');
    await rejectsWith(archive.fetch(lying, dest), 'checksum-mismatch');
    assert.equal(existsSync(dest), false);
    await store.delete(blob);
    await rejectsWith(archive.fetch(listed, dest), 'missing');
    assert.equal(existsSync(dest), false);
  });
});

describe('checkContinuity', () => {
  const HISTORY_2 = '1\t0/3800000\tno recovery target specified\n';

  test('a clean run on one timeline reports nothing and names the newest segment', async () => {
    const archive = new WalArchive(new MemoryBlobStore());
    for (let segno = 1; segno <= 4; segno++) await commit(archive, 1, segno);
    const report = await archive.checkContinuity(
      TARGET,
      { timeline: 1, lsn: '0/2000028' },
      { verifyChecksums: true },
    );
    assert.deepEqual(report.problems, []);
    assert.equal(report.checkedFrom, segmentName(1, 2));
    assert.equal(report.checkedTo, segmentName(1, 4));
    assert.equal(report.newest?.file, segmentName(1, 4));
  });

  test('reports every missing segment', async () => {
    const archive = new WalArchive(new MemoryBlobStore());
    for (const segno of [1, 4, 6]) await commit(archive, 1, segno);
    const report = await archive.checkContinuity(TARGET, { timeline: 1, lsn: '0/1000000' });
    assert.deepEqual(
      report.problems.map((p) => [p.kind, p.timeline, p.file]),
      [2, 3, 5].map((segno) => ['missing-segment', 1, segmentName(1, segno)]),
    );
  });

  test('follows a timeline switch through its history file; the switch segment is read from the new timeline', async () => {
    const archive = new WalArchive(new MemoryBlobStore());
    for (const segno of [1, 2, 3]) await commit(archive, 1, segno);
    for (const segno of [4, 5]) await commit(archive, 2, segno);
    await commitHistoryText(archive, 2, HISTORY_2);
    const missingSwitchCopy = await archive.checkContinuity(TARGET, { timeline: 1, lsn: '0/1000028' });
    assert.deepEqual(missingSwitchCopy.problems, [
      { kind: 'missing-segment', timeline: 2, file: segmentName(2, 3) },
    ]);
    await commit(archive, 2, 3);
    const report = await archive.checkContinuity(
      TARGET,
      { timeline: 1, lsn: '0/1000028' },
      { verifyChecksums: true },
    );
    assert.deepEqual(report.problems, []);
    assert.equal(report.checkedTo, segmentName(2, 5));
  });

  test('a timeline switch without its history file is missing-history', async () => {
    const archive = new WalArchive(new MemoryBlobStore());
    for (const segno of [1, 2, 3]) await commit(archive, 1, segno);
    for (const segno of [3, 4]) await commit(archive, 2, segno);
    const report = await archive.checkContinuity(TARGET, { timeline: 1, lsn: '0/1000028' });
    assert.deepEqual(report.problems, [{ kind: 'missing-history', timeline: 2, file: '00000002.history' }]);
  });

  test('with verifyChecksums a corrupt segment is checksum-mismatch; a foreign blob is unreadable', async () => {
    const store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    for (const segno of [1, 2, 4]) await commit(archive, 1, segno);
    const foreign = segmentBlobName(TARGET, 1, segmentName(1, 3));
    await store.stageBlock(foreign, walBlockId(0), Buffer.from('copied by hand'));
    await store.commitBlocks(foreign, [walBlockId(0)], { metadata: {}, tags: {}, tier: 'Cool' });
    const unchecked = await archive.checkContinuity(TARGET, { timeline: 1, lsn: '0/1000000' });
    assert.deepEqual(
      unchecked.problems.map((p) => [p.kind, p.file]),
      [['unreadable', segmentName(1, 3)]],
    );
    // Same sizes and valid zstd, but not the bytes the metadata describes.
    const lyingBlob = segmentBlobName(TARGET, 1, segmentName(1, 2));
    const props = await store.properties(lyingBlob);
    const meta = readWalBlobMetadata(props?.metadata ?? {}) ?? assert.fail();
    const data = store.bytes(lyingBlob) ?? assert.fail();
    await store.delete(lyingBlob);
    await store.stageBlock(lyingBlob, walBlockId(0), data);
    await store.commitBlocks(lyingBlob, [walBlockId(0)], {
      metadata: walBlobMetadata({ ...meta, sha256: 'f'.repeat(64) }),
      tags: {},
      tier: 'Cool',
    });
    const checked = await archive.checkContinuity(
      TARGET,
      { timeline: 1, lsn: '0/1000000' },
      { verifyChecksums: true },
    );
    assert.deepEqual(
      checked.problems.map((p) => [p.kind, p.file]),
      [
        ['unreadable', segmentName(1, 3)],
        ['checksum-mismatch', segmentName(1, 2)],
      ],
    );
  });

  test('an empty archive reports the start segment missing and no newest', async () => {
    const report = await new WalArchive(new MemoryBlobStore()).checkContinuity(TARGET, {
      timeline: 1,
      lsn: '0/3000000',
    });
    assert.equal(report.newest, null);
    assert.deepEqual(report.problems, [{ kind: 'missing-segment', timeline: 1, file: segmentName(1, 3) }]);
  });
});

describe('encrypted WAL (the target policy encrypts)', () => {
  const file = segmentName(1, 9);
  const segmentInput = async (recipients?: readonly string[]) => ({
    targetId: TARGET,
    timeline: 1,
    file,
    path: (await segmentFile(file)).path,
    receivedAt: RECEIVED,
    route: 'stream' as const,
    ...(recipients ? { recipients } : {}),
  });
  const keyPair = async (): Promise<{ identity: string; recipient: string }> => {
    const identity = await generateX25519Identity();
    return { identity, recipient: await identityToRecipient(identity) };
  };

  test('stored as .zst.age, listed encrypted, fetched with the identity; stock age | zstd | sha256sum checks it', async () => {
    const store = new MemoryBlobStore();
    const key = await keyPair();
    const input = await segmentInput([key.recipient]);
    const raw = await readFile(input.path);
    const result = await new WalArchive(store).commitSegment(input);
    assert.equal(result.result, 'archived');
    const blobName = segmentBlobName(TARGET, 1, file, true);
    const stored = store.bytes(blobName);
    assert.ok(stored);
    assert.equal(stored.subarray(0, 22).toString(), 'age-encryption.org/v1\n');
    assert.equal(store.bytes(segmentBlobName(TARGET, 1, file)), undefined, 'no plain copy');
    const archive = new WalArchive(store, { identities: [key.identity] });
    const listed = find(await archive.list(TARGET), blobName);
    assert.equal(listed.encrypted, true);
    const dest = join(dir, `fetched-${randomBytes(4).toString('hex')}`);
    await archive.fetch(listed, dest);
    assert.ok((await readFile(dest)).equals(raw));
    const keyFile = join(dir, `key-${randomBytes(4).toString('hex')}`);
    await writeFile(keyFile, key.identity, { mode: 0o600 });
    const decrypted = execFileSync('age', ['-d', '-i', keyFile], {
      input: stored,
      maxBuffer: 64 * 1024 * 1024,
    });
    const plain = execFileSync('zstd', ['-dc'], { input: decrypted, maxBuffer: 64 * 1024 * 1024 });
    assert.equal(createHash('sha256').update(plain).digest('hex'), listed.metadata?.sha256);
  });

  test('without the identity: key-missing; with another: key-mismatch (not checksum-mismatch)', async () => {
    const store = new MemoryBlobStore();
    const [key, stranger] = [await keyPair(), await keyPair()];
    await new WalArchive(store).commitSegment(await segmentInput([key.recipient]));
    const listed = find(await new WalArchive(store).list(TARGET), segmentBlobName(TARGET, 1, file, true));
    await rejectsWith(new WalArchive(store).verify(listed), 'key-missing');
    const error = await rejectsWith(
      new WalArchive(store, { identities: [stranger.identity] }).verify(listed),
      'key-mismatch',
    );
    assert.ok(!error.message.includes(stranger.identity));
  });

  test('a segment already archived in the other form is a duplicate (same bytes) or a conflict, never a second copy', async () => {
    const store = new MemoryBlobStore();
    const key = await keyPair();
    const plainInput = await segmentInput();
    await new WalArchive(store).commitSegment(plainInput);
    const again = await new WalArchive(store).commitSegment({ ...plainInput, recipients: [key.recipient] });
    assert.equal(again.result, 'duplicate');
    assert.equal(store.bytes(segmentBlobName(TARGET, 1, file, true)), undefined);
    await rejectsWith(new WalArchive(store).commitSegment(await segmentInput([key.recipient])), 'conflict');
  });

  test('an encrypted partial replaces a plain one; removePartial removes either form', async () => {
    const store = new MemoryBlobStore();
    const key = await keyPair();
    const archive = new WalArchive(store);
    await archive.shipPartial(await segmentInput());
    assert.ok(store.bytes(partialBlobName(TARGET, 1, file)));
    await archive.shipPartial(await segmentInput([key.recipient]));
    assert.equal(store.bytes(partialBlobName(TARGET, 1, file)), undefined);
    assert.ok(store.bytes(partialBlobName(TARGET, 1, file, true)));
    await archive.removePartial(TARGET, 1, file);
    assert.equal(store.bytes(partialBlobName(TARGET, 1, file, true)), undefined);
  });
});
