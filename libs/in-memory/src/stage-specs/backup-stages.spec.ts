import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { artifactBlobName, manifestBlobName, type Manifest } from '@tidemark/manifest';
import { JOBS } from '@tidemark/queues';
import { StorageError } from '@tidemark/storage';
import { StageHarness } from '../stage-harness';

// The stages' decisions, on in-memory Blob Storage, queues, lock and bus: a whole backup runs in milliseconds.
const CONFIG = (minFreeBytes = 0): string => `
storage: { container: unit }
local: { path: __LOCAL__, minFreeBytes: ${minFreeBytes} }
policies:
  quick:
    schedule: "0 3 * * *"
    verify: { restoreTest: false }
targets:
  - { id: files, kind: directory, url: "\${FILES_DIR}", policy: quick }
  - { id: other, kind: directory, url: "\${FILES_DIR}", policy: quick }
`;

describe('one backup through the stages, in memory', () => {
  let files: string;
  let harness: StageHarness;

  const start = async (minFreeBytes = 0, dir?: string): Promise<void> => {
    harness = await StageHarness.create(CONFIG(minFreeBytes), { FILES_DIR: dir ?? files });
  };
  const remote = async (backupId: string, targetId = 'files'): Promise<Manifest | null> =>
    (await harness.manifests.find(backupId, targetId))?.manifest ?? null;
  const events = (backupId: string): string[] =>
    harness.bus.typesOf(backupId).map((type) => type.replace('tidemark.', ''));

  beforeEach(async () => {
    files = await mkdtemp(join(tmpdir(), 'tidemark-unit-files-'));
    await mkdir(join(files, 'sub'));
    await writeFile(join(files, 'a.txt'), 'alpha\n'.repeat(1000));
    await writeFile(join(files, 'sub', 'b.bin'), Buffer.alloc(70_000, 7));
  });
  afterEach(async () => {
    await harness.dispose();
    await rm(files, { recursive: true, force: true });
  });

  test('a trigger ends verified: one fact per stage, in order, the lock freed, every job done', async () => {
    await start();
    const { backupId, coalesced } = await harness.pipeline.request('files', 'manual');
    assert.equal(coalesced, false);
    await harness.drain();

    const manifest = await remote(backupId);
    assert.equal(manifest?.status, 'verified');
    assert.deepEqual(events(backupId), [
      'backup.requested',
      'backup.dumped',
      'backup.uploaded',
      'backup.verified',
    ]);
    assert.equal(await harness.lock.holder('files'), null, 'the dump lock is released');
    assert.deepEqual(harness.queues.live(), [], 'no job is left');
    const blob = harness.store.bytes(artifactBlobName('files', backupId, manifest.artifact.name));
    assert.equal(blob?.length, manifest.artifact.size, 'the committed blob is the artifact');
    assert.equal((await harness.manifests.readLocal('files', backupId))?.status, 'uploaded');
    assert.equal(manifest.content.files?.filter((f) => f.type === 'file').length, 2);
    const counted = await harness.metrics.backupsTotal.get();
    const successes = counted.values
      .filter((v) => v.labels['result'] === 'success')
      .map((v) => v.labels['stage']);
    assert.deepEqual(successes.sort(), ['dump', 'upload', 'verify']);
  });

  test('a second trigger while the first backup holds the target joins it', async () => {
    await start();
    const first = await harness.pipeline.request('files', 'manual');
    const second = await harness.pipeline.request('files', 'schedule');
    assert.equal(second.coalesced, true);
    assert.equal(second.backupId, first.backupId);
    assert.equal(harness.queues.list('dump').length, 1);
    const other = await harness.pipeline.request('other', 'manual');
    assert.equal(other.coalesced, false, 'another target is not held');
  });

  test('a dump job of a target held by another backup waits, writing nothing', async () => {
    await start();
    await harness.lock.acquire('files', '20260101T000000Z-aaaaaa');
    await harness.queues.add(JOBS.dump, {
      v: 1,
      backupId: '20260102T000000Z-bbbbbb',
      targetId: 'files',
      trigger: 'manual',
      requestedAt: new Date().toISOString(),
    });
    const [job] = await harness.drain();
    assert.deepEqual(job?.result, { status: 'busy', holder: '20260101T000000Z-aaaaaa' });
    assert.equal(job.state, 'delayed');
    assert.equal(await harness.manifests.readLocal('files', '20260102T000000Z-bbbbbb'), null);
  });

  test('a dump job fetched after shutdown began takes no run number and writes nothing', async () => {
    await start();
    const { backupId } = await harness.pipeline.request('files', 'manual');
    harness.dumps.beforeApplicationShutdown();
    const [job] = await harness.drain();
    assert.deepEqual(job?.result, { status: 'interrupted' });
    assert.equal(
      await harness.manifests.readLocal('files', backupId),
      null,
      'no manifest, so no run number used',
    );
  });

  test('a duplicated dump job after the dump is done dumps nothing again and enqueues one commit', async () => {
    await start();
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain({ 'dump/dump': harness.handlers['dump/dump'] });
    const dumped = await harness.manifests.readLocal('files', backupId);
    harness.queues.retry('dump', backupId);
    const [again] = await harness.drain({ 'dump/dump': harness.handlers['dump/dump'] });
    assert.deepEqual(again?.result, { status: 'skipped', reason: 'already dumped' });
    assert.deepEqual(
      await harness.manifests.readLocal('files', backupId),
      dumped,
      'the manifest is untouched',
    );
    assert.equal(harness.queues.list('upload').filter((j) => j.name === 'commit').length, 1);
  });

  test('a missing source fails at once: a failed manifest in the catalog, one backup.failed, no artifact', async () => {
    await start(0, join(files, 'does-not-exist'));
    const { backupId } = await harness.pipeline.request('files', 'manual');
    const [job] = await harness.drain();
    assert.equal(job?.state, 'failed');
    assert.equal(job.attemptsMade, 1, 'permanent: not retried');
    const manifest = await remote(backupId);
    assert.equal(manifest?.status, 'failed');
    assert.equal(manifest.failure?.stage, 'dump');
    assert.equal(manifest.artifact.parts.length, 0);
    assert.deepEqual(events(backupId), ['backup.requested', 'backup.failed']);
    assert.equal(await harness.lock.holder('files'), null);
    assert.deepEqual(
      harness.store.names(),
      [manifestBlobName('files', backupId)],
      'only the manifest is stored',
    );
  });

  test('too little local disk: one low_disk warning and a permanent dump failure', async () => {
    await start(Number.MAX_SAFE_INTEGER);
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain();
    assert.deepEqual(events(backupId), ['backup.requested', 'storage.low_disk', 'backup.failed']);
    assert.equal((await remote(backupId))?.failure?.code, 'disk-low');
  });

  test('Blob Storage away at the commit: retried, committed once, one uploaded fact', async () => {
    await start();
    harness.store.failNext('commitBlocks', 2);
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain();
    assert.equal((await remote(backupId))?.status, 'verified');
    assert.equal(events(backupId).filter((e) => e === 'backup.uploaded').length, 1);
    assert.equal(harness.store.calls.filter((c) => c.startsWith('commitBlocks')).length, 3);
  });

  test('part jobs that never ran: the commit stages the missing parts itself', async () => {
    await start();
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain({ 'dump/dump': harness.handlers['dump/dump'] });
    const parts = harness.queues.list('upload').filter((j) => j.name === 'part');
    assert.ok(parts.length > 0);
    // Lost with a Redis that was flushed, say: the commit must not wait for them for ever.
    for (const part of parts) await harness.queues.remove('upload', part.id);
    await harness.drain();
    assert.equal((await remote(backupId))?.status, 'verified');
    assert.equal(harness.store.calls.filter((c) => c.startsWith('stageBlock')).length > 0, true);
  });

  test('a part job that finishes while the commit looks: its part is staged once, not again by the commit', async () => {
    await start();
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain({ 'dump/dump': harness.handlers['dump/dump'] });
    const parts = harness.queues.list('upload').filter((j) => j.name === 'part');
    assert.ok(parts.length > 0);
    // Another replica runs each part job just after the commit listed the staged blocks and before it asked
    // whether the part job is still live: a race that staged a part twice under load.
    const state = harness.queues.state.bind(harness.queues);
    const stagePart = harness.handlers['upload/part'];
    assert.ok(stagePart);
    harness.queues.state = async (queue, jobId) => {
      const job = parts.find((p) => p.id === jobId && p.state === 'waiting');
      if (job) {
        await stagePart(job.data, job);
        job.state = 'completed';
      }
      return state(queue, jobId);
    };
    await harness.drain({ 'upload/commit': harness.handlers['upload/commit'] });
    const staged = harness.store.calls.filter((c) => c.startsWith('stageBlock'));
    assert.equal(staged.length, parts.length, 'one stageBlock per part (each part is under one block)');
    assert.equal((await remote(backupId))?.status, 'uploaded');
  });

  test('a blob of another backup under the name: the upload fails for good and the parts stay local', async () => {
    await start();
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain({ 'dump/dump': harness.handlers['dump/dump'] });
    const local = await harness.manifests.readLocal('files', backupId);
    assert.ok(local);
    const blobName = artifactBlobName('files', backupId, local.artifact.name);
    await harness.store.stageBlock(blobName, 'x', Buffer.from('not this backup'));
    await harness.store.commitBlocks(blobName, ['x'], {
      metadata: { backup_id: 'someone-else' },
      tags: {},
      tier: 'Hot',
    });
    await harness.drain();
    const failed = await remote(backupId);
    assert.equal(failed?.status, 'failed');
    assert.equal(failed.failure?.code, 'blob-exists');
    assert.equal(harness.store.bytes(blobName)?.toString(), 'not this backup', 'never overwritten');
    const kept = await harness.manifests.readLocal('files', backupId);
    assert.equal(kept?.status, 'failed');
    assert.equal(kept.artifact.parts.length, local.artifact.parts.length, 'the parts are kept locally');
  });

  test('a flipped byte in the stored blob: verification says corrupt, in the manifest, the tags and one event', async () => {
    await start();
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain({ 'dump/dump': harness.handlers['dump/dump'], ...uploadHandlers(harness) });
    const uploaded = await remote(backupId);
    assert.ok(uploaded?.locations.remote);
    const blobName = uploaded.locations.remote.blobName;
    harness.store.corrupt(blobName, (data) => {
      const at = Math.floor(data.length / 2);
      data.writeUInt8(data.readUInt8(at) ^ 0xff, at);
      return data;
    });
    await harness.drain();
    const corrupt = await remote(backupId);
    assert.equal(corrupt?.status, 'corrupt');
    assert.equal(corrupt.verification?.checksum.ok, false);
    assert.equal((await harness.store.tags(blobName))['status'], 'corrupt');
    assert.deepEqual(events(backupId).slice(-1), ['backup.corrupt']);
  });

  test('re-verifying a verified backup that has rotted since: corrupt, a legal move from verified', async () => {
    await start();
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain();
    const verified = await remote(backupId);
    assert.equal(verified?.status, 'verified');
    assert.ok(verified.locations.remote);
    harness.store.corrupt(verified.locations.remote.blobName, (data) => data.subarray(0, data.length - 1));
    await harness.pipeline.reverify('files', backupId, false);
    await harness.drain();
    assert.equal((await remote(backupId))?.status, 'corrupt');
    assert.deepEqual(events(backupId).slice(-2), ['backup.verified', 'backup.corrupt']);
  });

  test('a verify job for a backup that failed before upload fails, says so once, and leaves the manifest', async () => {
    await start(0, join(files, 'does-not-exist'));
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain();
    const failed = await remote(backupId);
    assert.equal(failed?.status, 'failed');
    await harness.pipeline.reverify('files', backupId, false);
    const [job] = await harness.drain();
    assert.equal(job?.state, 'failed');
    assert.match(String(job.error), /nothing to verify/);
    assert.deepEqual(await remote(backupId), failed, 'the failed manifest is unchanged');
    // `tidemark verify` waits for this job's outcome: the verify stage's failure is its fact.
    const failures = harness.bus.events.filter((e) => e.type === 'tidemark.backup.failed');
    assert.deepEqual(
      failures.map((e) => e.data.stage),
      ['dump', 'verify'],
    );
  });

  test('a final failure that cannot be recorded is parked, then recorded with exactly one event', async () => {
    await start(0, join(files, 'does-not-exist'));
    const { backupId } = await harness.pipeline.request('files', 'manual');
    // The catalog is away while the dump fails for good.
    harness.store.failNext('readJson', 1, new StorageError('unavailable', 'Blob Storage is away'));
    await harness.drain();
    assert.deepEqual(events(backupId), ['backup.requested'], 'no backup.failed while the catalog disagrees');
    const { pending } = await harness.pending.all();
    assert.equal(pending.length, 1);
    await harness.pipeline.settleParked(pending[0]!);
    assert.equal((await remote(backupId))?.status, 'failed');
    assert.deepEqual(events(backupId), ['backup.requested', 'backup.failed']);
    await harness.pipeline.settleParked(pending[0]!);
    assert.equal(events(backupId).filter((e) => e === 'backup.failed').length, 1, 'settled once only');
  });
});

function uploadHandlers(harness: StageHarness): ReturnType<() => StageHarness['handlers']> {
  const { 'upload/part': part, 'upload/commit': commit } = harness.handlers;
  return { 'upload/part': part, 'upload/commit': commit };
}
