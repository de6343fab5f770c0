import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LoadedConfig } from '@tidemark/config';
import { validateConfig } from '@tidemark/policy';
import { sourceKinds } from '@tidemark/source-kinds';
import { seedManifest } from '@tidemark/testing-retention';
import { MemoryBlobStore } from '@tidemark/testing-storage';
import { runAssertions } from './assertions';
import {
  DRILL_PREFIX,
  drillIdFor,
  drillScratchCreated,
  drillScratchName,
  isStaleDrillCopy,
} from './drill-names';
import { drillReportBlobName, failedChecks, type DrillReport } from './drill-report';
import { BlobDrillReportStore, MemoryDrillReportStore } from './drill-report-store';
import { pickBackups } from './pick';
import { drillScratchFor, withDatabase } from './scratch-copy';

const DAY = 86_400_000;
const at = (days: number) => new Date(Date.UTC(2026, 10, 1) + days * DAY);

describe('which backups a drill restores', () => {
  const manifests = [
    seedManifest('c', { targetId: 't', takenAt: at(0), status: 'verified', tier: 'Cold' }),
    seedManifest('c', { targetId: 't', takenAt: at(1), status: 'corrupt' }),
    seedManifest('c', { targetId: 't', takenAt: at(2), status: 'verified' }),
    seedManifest('c', { targetId: 't', takenAt: at(3), status: 'verified', tier: 'Archive' }),
    seedManifest('c', { targetId: 't', takenAt: at(4), status: 'uploaded' }),
  ];
  const [oldest, , middle, newest] = manifests.map((m) => m.backupId);

  test('newest, oldest and random among the verified ones in any tier, each backup once', () => {
    const picked = pickBackups(manifests, ['newest', 'oldest', 'random'], () => 0.5);
    assert.deepEqual(
      picked.map((p) => [p.manifest.backupId, p.picks]),
      [
        [newest, ['newest']],
        [oldest, ['oldest']],
        [middle, ['random']],
      ],
    );
    assert.deepEqual(
      pickBackups(manifests, ['oldest', 'random'], () => 0).map((p) => [p.manifest.backupId, p.picks]),
      [[oldest, ['oldest', 'random']]],
    );
    assert.deepEqual(pickBackups(manifests.slice(1, 2), ['newest']), [], 'nothing verified, nothing picked');
  });
});

describe('scratch names and leftovers', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tidemark-drills-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('a name carries the target hash and its creation time; old enough is stale, others never', () => {
    const made = new Date('2026-12-07T04:00:00Z');
    const name = drillScratchName('orders-db', made);
    assert.match(name, /^tidemark_drill_[0-9a-f]{6}_[0-9a-z]+_[0-9a-z]{6}$/);
    assert.ok(name.length <= 45, 'leaves room for the restore’s staging prefix in a 63-byte identifier');
    assert.notEqual(name, drillScratchName('orders-db', made), 'two drills never share a copy');
    assert.notEqual(name.split('_')[2], drillScratchName('other-db', made).split('_')[2]);
    assert.deepEqual(drillScratchCreated(name), made);
    assert.equal(isStaleDrillCopy(name, new Date(+made + 5 * 3600_000)), false);
    assert.equal(isStaleDrillCopy(name, new Date(+made + 7 * 3600_000)), true);
    assert.equal(isStaleDrillCopy('tidemark_drill_notours', new Date(+made + 100 * DAY)), false);
    assert.equal(isStaleDrillCopy('tidemark_verify_x', new Date(+made + 100 * DAY)), false);
  });

  test('a directory scratch sweep drops the copies of dead drills and keeps a young one and foreign names', async () => {
    const scratchDir = join(work, 'scratch');
    const config = configWith(scratchDir);
    const now = new Date();
    const dead = drillScratchName('files', new Date(+now - 7 * 3600_000));
    const young = drillScratchName('files', new Date(+now - 60_000));
    for (const name of [dead, young, 'keep-me', `${DRILL_PREFIX}odd`])
      await mkdir(join(scratchDir, name, 'sub'), { recursive: true });
    const scratch = drillScratchFor(config, 'files', {});
    assert.equal(scratch.description, `directory ${scratchDir}`);
    assert.deepEqual(await scratch.sweep(now), [dead]);
    assert.deepEqual((await readdir(scratchDir)).sort(), [young, 'keep-me', `${DRILL_PREFIX}odd`].sort());
  });

  test('file assertions: present and non-empty passes; missing or empty fails with what was found', async () => {
    const scratchDir = join(work, 'assert');
    const copy = drillScratchFor(configWith(scratchDir), 'files', {}).copy(drillScratchName('files'));
    await mkdir(join(copy.to, 'data'), { recursive: true });
    await writeFile(join(copy.to, 'data', 'collections.dat'), 'x');
    await writeFile(join(copy.to, 'empty.dat'), '');
    const results = await runAssertions(
      [{ file: 'data/collections.dat' }, { file: 'empty.dat' }, { file: 'missing.dat' }, { sql: 'select 1' }],
      copy,
      new Date(),
    );
    assert.deepEqual(results, [
      { name: 'file data/collections.dat', ok: true, expected: 'exists, not empty', actual: '1 bytes' },
      { name: 'file empty.dat', ok: false, expected: 'exists, not empty', actual: '0 bytes' },
      { name: 'file missing.dat', ok: false, expected: 'exists, not empty', actual: 'missing' },
      { name: 'sql select 1', ok: false, detail: 'sql assertions apply to database targets only' },
    ]);
    await copy.remove();
    assert.deepEqual(await readdir(scratchDir), [], 'removing the copy leaves nothing');
  });

  test('a server url gets the copy’s database; drill ids are stable per job', () => {
    assert.equal(
      withDatabase('postgres://u:p@h:5433/postgres?sslmode=disable', 'tidemark_drill_x'),
      'postgres://u:p@h:5433/tidemark_drill_x?sslmode=disable',
    );
    const when = new Date('2026-12-07T04:00:00Z');
    assert.equal(drillIdFor('repeat:abc:1', when), drillIdFor('repeat:abc:1', when));
    assert.match(drillIdFor('repeat:abc:1', when), /^20261207T040000Z-[0-9a-f]{6}$/);
    assert.notEqual(drillIdFor('repeat:abc:1', when), drillIdFor('repeat:abc:2', when));
  });
});

describe('drill reports', () => {
  const report = (drillId: string, startedAt: string, over: Partial<DrillReport> = {}): DrillReport => ({
    v: 1,
    drillId,
    targetId: 'orders-db',
    picks: ['oldest'],
    backup: {
      backupId: '20261101T000000Z-aaaaaa',
      takenAt: '2026-11-01T00:00:00.000Z',
      ageSeconds: 86400,
      tier: 'Cold',
      members: 1,
      rehydrated: false,
    },
    scratch: 'scratch server ${SCRATCH_PG_URL}',
    startedAt,
    finishedAt: startedAt,
    checks: [{ name: 'rows public.orders', ok: true, expected: '3', actual: '3' }],
    assertions: [],
    phasesMs: { rehydrate: 0, download: 10, restore: 20, checks: 5, cleanup: 3 },
    rto: { seconds: 0.035, targetSeconds: 3600, breached: false },
    tools: { tidemark: '0.1.0' },
    result: 'passed',
    cleanup: { ok: true },
    ...over,
  });

  test('stored as <target>/drills/<id>.json, listed oldest first, the same in memory', async () => {
    const blobs = new MemoryBlobStore();
    for (const store of [new BlobDrillReportStore(blobs), new MemoryDrillReportStore()]) {
      assert.equal(
        await store.save(report('d2', '2026-12-02T00:00:00.000Z')),
        drillReportBlobName('orders-db', 'd2'),
      );
      await store.save(report('d1', '2026-12-01T00:00:00.000Z'));
      const { reports } = await store.list('orders-db');
      assert.deepEqual(
        reports.map((r) => r.drillId),
        ['d1', 'd2'],
      );
      assert.equal((await store.find('orders-db', 'd1'))?.result, 'passed');
      assert.equal(await store.find('orders-db', 'nope'), null);
      assert.deepEqual((await store.list('other')).reports, []);
    }
    assert.ok(await blobs.readJson('orders-db/drills/d1.json'));
    await blobs.writeJson('orders-db/drills/broken.json', { v: 9 }, 'overwrite');
    const { reports, unreadable } = await new BlobDrillReportStore(blobs).list('orders-db');
    assert.equal(reports.length, 2);
    assert.deepEqual(
      unreadable.map((u) => u.name),
      ['orders-db/drills/broken.json'],
    );
  });

  test('what failed lists every failed check and assertion and a breached RTO, with expected and actual', () => {
    const failed = failedChecks(
      report('d3', '2026-12-03T00:00:00.000Z', {
        assertions: [{ name: 'sql select false', ok: false, expected: 'true', actual: 'false' }],
        rto: { seconds: 90, targetSeconds: 60, breached: true },
      }),
    );
    assert.deepEqual(failed, [
      { name: 'sql select false', ok: false, expected: 'true', actual: 'false' },
      { name: 'rto', ok: false, expected: '<= 60 s', actual: '90 s' },
    ]);
  });
});

function configWith(scratchDir: string): LoadedConfig {
  return validateConfig(
    {
      local: { path: join(scratchDir, '..', 'local') },
      policies: { p: { schedule: '0 2 * * *', verify: { scratch: { path: scratchDir } } } },
      targets: [{ id: 'files', kind: 'directory', url: '/srv/files', policy: 'p' }],
    },
    undefined,
    { kinds: sourceKinds() },
  ) as LoadedConfig;
}
