import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { EventPublisher } from '@tidemark/events';
import { artifactBlobName, manifestBlobName, type Manifest } from '@tidemark/manifest';
import { MemoryLock, StageHarness } from '@tidemark/in-memory';
import { StorageError } from '@tidemark/storage';
import { RetentionPlanner } from './retention-plan';
import { RetentionRunError, RetentionService, type RetentionReport } from './retention.service';

// Immutable storage through the real stages and retention, on a MemoryBlobStore that enforces Azure's
// version-level WORM rules (Azurite does not implement them: see libs/storage's azurite spec).
const DAY_MS = 86_400_000;

const CONFIG = (remote: string, days = 3): string => `
storage: { container: unit, immutability: { mode: locked, days: ${days} } }
local: { path: __LOCAL__, minFreeBytes: 0 }
policies:
  quick:
    schedule: "0 3 * * *"
    verify: { restoreTest: false }
    retention: { remote: ${remote} }
targets:
  - { id: files, kind: directory, url: "\${FILES_DIR}", policy: quick }
`;
const KEEP_ONE = '{ keepLast: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0, minKeep: 1 }';
const MONTHLIES = '{ keepLast: 1, daily: 0, weekly: 0, monthly: 2, yearly: 0, minKeep: 1 }';

describe('immutable storage through the stages', () => {
  let files: string;
  let harness: StageHarness;
  let clock: Date;

  const start = async (yaml: string, immutability: 'supported' | 'unsupported' = 'supported') => {
    harness = await StageHarness.create(yaml, { FILES_DIR: files }, { immutability, now: () => clock });
  };
  const backup = async (): Promise<Manifest> => {
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain();
    const stored = await harness.manifests.find(backupId, 'files');
    assert.ok(stored);
    return stored.manifest;
  };
  const retention = (): RetentionService => {
    const { config, catalog, manifests, store, local, bus, metrics } = harness;
    const lock = Object.assign(new MemoryLock(), { ttlMs: 60_000 });
    const planner = new RetentionPlanner(config, catalog, local, store);
    const events = new EventPublisher(bus, 'retention');
    return new RetentionService(config, catalog, manifests, store, local, planner, lock, events, metrics);
  };
  const failedRun = async (run: Promise<RetentionReport>): Promise<RetentionReport> => {
    try {
      await run;
    } catch (error) {
      assert.ok(error instanceof RetentionRunError, String(error));
      return error.report;
    }
    assert.fail('expected the run to fail');
  };
  const artifactOf = (m: Manifest): string => artifactBlobName('files', m.backupId, m.artifact.name);

  beforeEach(async () => {
    clock = new Date();
    files = await mkdtemp(join(tmpdir(), 'tidemark-immutable-files-'));
    await writeFile(join(files, 'a.txt'), 'alpha\n'.repeat(100));
  });
  afterEach(async () => {
    await harness.dispose();
    await rm(files, { recursive: true, force: true });
  });

  test('the commit locks the artifact and every manifest version; no update overwrites a locked version', async () => {
    await start(CONFIG(KEEP_ONE));
    const manifest = await backup();
    assert.equal(manifest.status, 'verified');
    const lock = manifest.immutability;
    assert.ok(lock, 'the manifest records its lock');
    assert.equal(lock.mode, 'locked');
    // storage.immutability.days 3 is longer than the planned expiry (keepLast 1 ≈ one day).
    const until = new Date(lock.until).getTime();
    assert.ok(until >= clock.getTime() + 3 * DAY_MS - 60_000 && until <= Date.now() + 3 * DAY_MS);
    const artifact = await harness.store.properties(artifactOf(manifest));
    assert.deepEqual(artifact?.immutability, { mode: 'locked', until: new Date(lock.until) });
    const name = manifestBlobName('files', manifest.backupId);
    assert.deepEqual((await harness.store.properties(name))?.immutability, {
      mode: 'locked',
      until: new Date(lock.until),
    });
    // `uploaded` was written locked, then `verified` over it: Azure keeps the locked version beside the new one.
    const locked = harness.store.versions(name).filter((v) => v.immutability !== undefined);
    assert.deepEqual(
      locked.map((v) => (JSON.parse(v.data.toString()) as Manifest).status),
      ['uploaded'],
    );
    await assert.rejects(
      harness.store.delete(artifactOf(manifest)),
      (error) => error instanceof StorageError && error.code === 'immutable',
    );
  });

  test('retention keeps an expired backup while it is locked, says until when, and deletes it after', async () => {
    await start(CONFIG(KEEP_ONE));
    const backups = [await backup(), await backup()];
    const service = retention();
    const plan = await service.plan('files', clock);
    // Oldest first: two backups in the same second are ordered by id.
    const [old, newest] = plan.backups.map((b) => backups.find((m) => m.backupId === b.backupId));
    assert.ok(old && newest);
    const planned = plan.backups.find((b) => b.backupId === old.backupId);
    assert.equal(planned?.action, 'keep');
    assert.deepEqual(planned.reasons, [`locked until ${old.immutability?.until}`, 'then expired']);
    assert.equal(planned.lock?.until, old.immutability?.until);

    const report = await service.apply('files', { now: clock });
    assert.deepEqual(report.deleted, []);
    assert.deepEqual(report.locked, [{ backupId: old.backupId, until: old.immutability?.until }]);
    assert.deepEqual(report.failures, []);
    assert.ok(harness.store.bytes(artifactOf(old)), 'the locked artifact is still there');
    assert.ok(
      !harness.store.calls.includes(`delete ${artifactOf(old)}`),
      'retention did not even try to delete it',
    );

    clock = new Date(new Date(old.immutability?.until ?? 0).getTime() + 1000);
    const later = await service.apply('files', { now: clock });
    assert.deepEqual(later.deleted, [old.backupId]);
    assert.deepEqual(later.failures, []);
    assert.ok(await harness.manifests.find(newest.backupId, 'files'));
  });

  test('a lock longer than the manifest records (a crashed extension) still stops the deletion', async () => {
    await start(CONFIG(KEEP_ONE));
    const backups = [await backup(), await backup()];
    const service = retention();
    const oldId = (await service.plan('files', clock)).backups[0]?.backupId;
    const old = backups.find((m) => m.backupId === oldId);
    assert.ok(old);
    const longer = new Date(new Date(old.immutability?.until ?? 0).getTime() + 30 * DAY_MS);
    await harness.store.setImmutability(artifactOf(old), { until: longer, mode: 'locked' });

    clock = new Date(new Date(old.immutability?.until ?? 0).getTime() + 1000);
    const report = await service.apply('files', { now: clock });
    assert.deepEqual(report.deleted, []);
    assert.deepEqual(report.locked, [{ backupId: old.backupId, until: longer.toISOString() }]);
    assert.deepEqual(report.failures, []);
    const stored = (await harness.manifests.find(old.backupId, 'files'))?.manifest;
    assert.equal(stored?.deletion, null, 'not even marked for deletion');
  });

  test('a failed lock check or extension is a failure of the run, and nothing is deleted', async () => {
    await start(CONFIG(KEEP_ONE));
    await backup();
    await backup();
    const service = retention();
    clock = new Date(clock.getTime() + 4 * DAY_MS);
    harness.store.failNext('properties');
    const checkFailed = await failedRun(service.apply('files', { now: clock }));
    assert.deepEqual(checkFailed.deleted, []);
    assert.equal(checkFailed.failures[0]?.step, 'delete-artifact');
    assert.match(checkFailed.failures[0].message, /properties is unavailable/);

    await harness.dispose();
    clock = new Date();
    await start(CONFIG(MONTHLIES));
    const manifest = await backup();
    clock = new Date(Date.UTC(clock.getUTCFullYear(), clock.getUTCMonth() + 1, 1, 1));
    harness.store.failNext('setImmutability');
    const extendFailed = await failedRun(retention().apply('files', { now: clock }));
    assert.deepEqual(extendFailed.locksExtended, []);
    assert.deepEqual(
      extendFailed.failures.map((f) => [f.backupId, f.step]),
      [[manifest.backupId, 'lock']],
    );
    // The next run extends it.
    assert.equal((await retention().apply('files', { now: clock })).locksExtended.length, 1);
  });

  test('a backup promoted to a monthly has its lock extended on the artifact and the manifest', async () => {
    await start(CONFIG(MONTHLIES));
    const manifest = await backup();
    const service = retention();
    // While its month runs, a later backup may take the month's slot: no extension yet.
    assert.equal((await service.plan('files', clock)).backups[0]?.lock?.extendTo, undefined);
    // The month is over: it is that month's monthly, kept two months after it was taken.
    clock = new Date(Date.UTC(clock.getUTCFullYear(), clock.getUTCMonth() + 1, 1, 1));
    const planned = (await service.plan('files', clock)).backups[0];
    const extendTo = planned?.lock?.extendTo;
    assert.ok(extendTo, 'the plan shows the extension');
    assert.ok(
      new Date(extendTo).getTime() > new Date(manifest.immutability?.until ?? 0).getTime() + 30 * DAY_MS,
    );

    const report = await service.apply('files', { now: clock });
    assert.deepEqual(report.locksExtended, [{ backupId: manifest.backupId, until: extendTo }]);
    const applied = harness.bus.events.filter((e) => e.type === 'tidemark.retention.applied').at(-1);
    assert.deepEqual((applied?.data as { locksExtended?: unknown }).locksExtended, report.locksExtended);
    const stored = (await harness.manifests.find(manifest.backupId, 'files'))?.manifest;
    assert.equal(stored?.immutability?.until, extendTo);
    const expected = { mode: 'locked', until: new Date(extendTo) };
    assert.deepEqual((await harness.store.properties(artifactOf(manifest)))?.immutability, expected);
    assert.deepEqual(
      (await harness.store.properties(manifestBlobName('files', manifest.backupId)))?.immutability,
      expected,
    );
    // A second run has nothing left to extend.
    assert.deepEqual((await service.apply('files', { now: clock })).locksExtended, []);
  });

  test('pin sets a legal hold on the artifact and the manifest; unpin clears it, leaving no held version', async () => {
    await start(CONFIG(KEEP_ONE));
    const manifest = await backup();
    const name = manifestBlobName('files', manifest.backupId);
    const setPinned = async (pinned: boolean) =>
      harness.manifests.update('files', manifest.backupId, (m) => ({ ...m, pinned }));

    await setPinned(true);
    assert.equal((await harness.store.properties(artifactOf(manifest)))?.legalHold, true);
    assert.equal((await harness.store.properties(name))?.legalHold, true);
    clock = new Date(clock.getTime() + 30 * DAY_MS);
    await assert.rejects(
      harness.store.delete(artifactOf(manifest)),
      (error) =>
        error instanceof StorageError && error.code === 'immutable' && /legal hold/.test(error.message),
    );

    await setPinned(false);
    assert.equal((await harness.store.properties(artifactOf(manifest)))?.legalHold, undefined);
    assert.equal((await harness.store.properties(name))?.legalHold, undefined);
    assert.ok(
      harness.store.versions(name).every((v) => !v.legalHold),
      'no previous version keeps a hold',
    );
  });

  test('on a store without immutability (as Azurite) the upload fails, saying so', async () => {
    await start(CONFIG(KEEP_ONE), 'unsupported');
    const manifest = await backup();
    assert.equal(manifest.status, 'failed');
    assert.equal(manifest.failure?.stage, 'upload');
    assert.match(
      manifest.failure.message,
      /storage\.immutability is set, but memory:\/\/blob does not implement version-level immutability/,
    );
  });
});
