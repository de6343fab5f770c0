import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SourceError } from '@tidemark/source-kinds';
import { MemoryBlobStore } from '@tidemark/testing-storage';
import { segmentBlobName, type PhysicalBackup } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { archiveCoversStart, archiveWalSupply } from './archive-wal-supply';

const SEGMENT = '000000020000000000000005';

function isSourceError(code: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof SourceError, String(error));
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('the verifier’s WAL supply over a target’s archive', () => {
  let work: string;
  let store: MemoryBlobStore;
  const segmentBytes = Buffer.alloc(1024 * 1024, 7);
  const partialBytes = Buffer.alloc(1024 * 1024, 3);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tidemark-walsupply-'));
    store = new MemoryBlobStore();
    const archive = new WalArchive(store);
    const common = { targetId: 'db', timeline: 2, receivedAt: new Date(), route: 'stream' as const };
    await writeFile(join(work, 'segment'), segmentBytes);
    await archive.commitSegment({ ...common, file: SEGMENT, path: join(work, 'segment') });
    await writeFile(join(work, 'partial'), partialBytes);
    await archive.shipPartial({ ...common, file: '000000020000000000000006', path: join(work, 'partial') });
    await writeFile(join(work, 'history'), '1\t0/5000000\tno recovery target specified\n');
    await archive.commitHistory({ ...common, path: join(work, 'history') });
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('writes a segment, a partial (under its segment name) and a history file, decompressed', async () => {
    const supply = archiveWalSupply(store, 'db');
    const out = await mkdtemp(join(work, 'out-'));
    await supply.fetch({ timeline: 2, file: SEGMENT }, join(out, SEGMENT));
    await supply.fetch(
      { timeline: 2, file: '000000020000000000000006', partial: true },
      join(out, '000000020000000000000006'),
    );
    await supply.fetch({ timeline: 2, file: '00000002.history' }, join(out, '00000002.history'));
    assert.deepEqual(await readFile(join(out, SEGMENT)), segmentBytes);
    assert.deepEqual(await readFile(join(out, '000000020000000000000006')), partialBytes);
    assert.match(await readFile(join(out, '00000002.history'), 'utf8'), /^1\t0\/5000000/);
  });

  test('a file the archive does not hold is wal-missing; the completed segment of a partial is too', async () => {
    const supply = archiveWalSupply(store, 'db');
    await assert.rejects(
      supply.fetch({ timeline: 2, file: '000000020000000000000009' }, join(work, 'x')),
      isSourceError('wal-missing', /000000020000000000000009/),
    );
    await assert.rejects(
      supply.fetch({ timeline: 2, file: '000000020000000000000006' }, join(work, 'x')),
      isSourceError('wal-missing'),
    );
    await assert.rejects(
      archiveWalSupply(store, 'other').fetch({ timeline: 2, file: SEGMENT }, join(work, 'x')),
      isSourceError('wal-missing'),
    );
  });

  test('bytes that do not match their checksum are restore-failed, and nothing is left at the destination', async () => {
    const damaged = new MemoryBlobStore();
    const archive = new WalArchive(damaged);
    await archive.commitSegment({
      targetId: 'db',
      timeline: 2,
      file: SEGMENT,
      path: join(work, 'segment'),
      receivedAt: new Date(),
      route: 'stream',
    });
    damaged.corrupt(segmentBlobName('db', 2, SEGMENT), (data) => {
      const copy = Buffer.from(data);
      copy[copy.length - 10] = (copy[copy.length - 10] ?? 0) ^ 0xff;
      return copy;
    });
    const out = await mkdtemp(join(work, 'damaged-'));
    await assert.rejects(
      archiveWalSupply(damaged, 'db').fetch({ timeline: 2, file: SEGMENT }, join(out, SEGMENT)),
      isSourceError('restore-failed', /damaged/),
    );
    assert.deepEqual(await readdir(out), []);
  });

  test('the archive covers a backup when it holds a segment at or before the backup’s start', async () => {
    const backup = (startLsn: string, timeline = 2) =>
      ({ startLsn, timeline, walSegmentBytes: 16 * 1024 * 1024 }) as PhysicalBackup;
    assert.equal(await archiveCoversStart(store, 'db', backup('0/5000028')), true);
    assert.equal(await archiveCoversStart(store, 'db', backup('0/9000028')), true);
    assert.equal(await archiveCoversStart(store, 'db', backup('0/4000028')), false, 'archive began later');
    assert.equal(
      await archiveCoversStart(store, 'db', backup('0/9000028', 1)),
      false,
      'a later timeline only',
    );
    assert.equal(await archiveCoversStart(store, 'other', backup('0/9000028')), false, 'no archive');
  });
});
