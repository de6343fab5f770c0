import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AzureBlobStore } from '@tidemark/storage';
import { type AzuriteHandle, startAzurite, uniqueName } from '@tidemark/testing';
import { DEFAULT_SEGMENT_BYTES, segmentBlobName } from '@tidemark/wal';
import { WalArchive } from './wal-archive';
import { WalArchiveError } from './wal-archive-error';

const TARGET = 'orders';
const FILE = '000000010000000000000003';
const RECEIVED = new Date('2026-12-03T08:00:00.000Z');
let azurite: AzuriteHandle;
let dir: string;

before(async () => {
  azurite = await startAzurite();
  dir = await mkdtemp(join(tmpdir(), 'wal-archive-azurite-'));
});
after(async () => {
  await azurite.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A segment-sized file: 1 MiB of random WAL records, zeros after. */
async function segmentFile(name: string): Promise<{ path: string; sha256: string }> {
  const data = Buffer.alloc(DEFAULT_SEGMENT_BYTES);
  randomBytes(1024 * 1024).copy(data);
  const path = join(dir, name);
  await writeFile(path, data);
  return { path, sha256: createHash('sha256').update(data).digest('hex') };
}

test('against Azurite: commit, duplicate, conflict, list and a checked fetch', async () => {
  const store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('walarchive'));
  await store.ensureContainer();
  const archive = new WalArchive(store);
  const a = await segmentFile('a');
  const b = await segmentFile('b');
  const input = {
    targetId: TARGET,
    timeline: 1,
    file: FILE,
    path: a.path,
    receivedAt: RECEIVED,
    route: 'stream' as const,
  };

  const first = await archive.commitSegment(input);
  assert.equal(first.result, 'archived');
  assert.equal(first.sha256, a.sha256);
  assert.equal((await archive.commitSegment({ ...input, route: 'spool' })).result, 'duplicate');
  await assert.rejects(
    archive.commitSegment({ ...input, path: b.path }),
    (error: unknown) => error instanceof WalArchiveError && error.code === 'conflict',
  );

  const files = await archive.list(TARGET);
  assert.equal(files.length, 1);
  const [listed] = files;
  assert.ok(listed);
  assert.equal(listed.blobName, segmentBlobName(TARGET, 1, FILE));
  assert.equal(listed.kind, 'segment');
  assert.equal(listed.metadata?.sha256, a.sha256);
  assert.equal(listed.metadata.route, 'stream');
  assert.equal(listed.compressedBytes, first.compressedBytes);
  assert.equal(listed.tier, 'Cool');

  const out = await mkdtemp(join(dir, 'out-'));
  await archive.fetch(listed, join(out, FILE));
  assert.deepEqual(await readFile(join(out, FILE)), await readFile(a.path));
  await assert.rejects(
    archive.fetch({ ...listed, metadata: { ...listed.metadata, sha256: '0'.repeat(64) } }, join(out, 'bad')),
    (error: unknown) => error instanceof WalArchiveError && error.code === 'checksum-mismatch',
  );
  assert.deepEqual(await readdir(out), [FILE]);
});

test('against Azurite: a partial is replaced by the next ship and removed', async () => {
  const store = AzureBlobStore.fromConnectionString(azurite.connectionString, uniqueName('walpartial'));
  await store.ensureContainer();
  const archive = new WalArchive(store);
  const first = await segmentFile('p1');
  const second = await segmentFile('p2');
  const ship = (path: string, endLsn: string) =>
    archive.shipPartial({
      targetId: TARGET,
      timeline: 1,
      file: FILE,
      path,
      receivedAt: RECEIVED,
      endLsn,
      route: 'stream',
    });
  await ship(first.path, '0/3100000');
  await ship(second.path, '0/3200000');
  const [partial] = await archive.list(TARGET);
  assert.ok(partial);
  assert.equal(partial.kind, 'partial');
  assert.equal(partial.metadata?.sha256, second.sha256);
  assert.equal(partial.metadata.endlsn, '0/3200000');
  const dest = join(dir, 'partial');
  await archive.fetch(partial, dest);
  assert.deepEqual(await readFile(dest), await readFile(second.path));
  await archive.removePartial(TARGET, 1, FILE);
  assert.deepEqual(await archive.list(TARGET), []);
});
