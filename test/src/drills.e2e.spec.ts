import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { drillReportSchema, type DrillReport } from '@tidemark/drills';
import { isEvent, RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { parseManifest } from '@tidemark/manifest';
import { AzureBlobStore } from '@tidemark/storage';
import { startScratchCluster, uniqueName, waitFor, type ScratchCluster } from '@tidemark/testing';
import { createHash } from 'node:crypto';
import { withClient } from './support/database';
import { TestStack } from './support/stack';
import { mysqlUrl, withMysql } from './support/stores';

// Scheduled restore drills of the oldest backup of three kinds, each moved to Cold first: PostgreSQL restored onto a
// second server the test starts (the source's database list is watched throughout), MariaDB onto a scratch
// database prefix of the same server (a second mariadbd costs more than it proves), and a directory chain.
const CONTAINER = 'e2e-drills';
const SOURCE_ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';

const CONFIG = `
storage: { container: ${CONTAINER} }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  pg:
    schedule: "0 3 * * *"
    verify: { scratch: { url: "\${SCRATCH_PG_URL}" } }
    drills:
      schedule: "* * * * *"
      pick: [oldest]
      rtoMinutes: 30
      assertions:
        - sql: "select count(*) > 0 from drill.orders"
        - sql: "select max(created_at) from drill.orders"
          expect: { within: 26h, of: backup }
  my:
    schedule: "0 3 * * *"
    verify: { scratch: { url: "\${SCRATCH_MY_URL}" } }
    drills:
      schedule: "* * * * *"
      pick: [oldest]
      rtoMinutes: 30
      assertions:
        - sql: "select count(*) = 999 from items"
  files:
    schedule: "0 3 * * *"
    verify: { scratch: { path: "__SCRATCH_DIR__" } }
    drills:
      schedule: "* * * * *"
      pick: [oldest, newest]
      rtoMinutes: 0.0001
      assertions:
        - file: "collections.dat"
targets:
  - { id: drill-pg, kind: postgres, url: "\${DRILL_PG_URL}", policy: pg }
  - { id: drill-my, kind: mysql, url: "\${DRILL_MY_URL}", policy: my }
  - { id: drill-files, kind: directory, url: "\${DRILL_FILES}", policy: files, incremental: { fullEvery: 3 } }
`;

describe('restore drills end to end: scheduled, measured, off the source server', () => {
  const pgSource = uniqueName('drill_pg').replaceAll('-', '_');
  const mySource = uniqueName('drill_my').replaceAll('-', '_');
  let work: string;
  let scratchServer: ScratchCluster;
  let stack: TestStack;
  let bus: RedisStreamEventBus;
  let store: AzureBlobStore;
  const oldest = new Map<string, string>();
  const backups = new Map<string, string[]>();
  // Every database the source server ever showed that a restore test or drill of these targets could have made.
  const seenOnSource = new Set<string>();
  let watching: NodeJS.Timeout | undefined;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tidemark-drills-e2e-'));
    scratchServer = await startScratchCluster();
    await withClient(SOURCE_ADMIN, (c) => c.query(`CREATE DATABASE ${pgSource}`));
    await withClient(`postgres://postgres@127.0.0.1:5432/${pgSource}`, (c) =>
      c.query(`CREATE SCHEMA drill;
        CREATE TABLE drill.orders (id serial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO drill.orders (created_at) SELECT now() - i * interval '1 minute' FROM generate_series(1, 50) i;`),
    );
    await withMysql(undefined, (c) => c.query(`CREATE DATABASE ${mySource}`));
    await withMysql(mySource, async (c) => {
      await c.query('CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))');
      await c.query("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    });
    const files = join(work, 'files');
    await mkdir(files);
    await writeFile(join(files, 'collections.dat'), 'collections v1');
    const scratchDir = join(work, 'scratch');
    stack = await TestStack.start({
      config: CONFIG.replace('__SCRATCH_DIR__', scratchDir),
      env: {
        DRILL_PG_URL: `postgres://postgres@127.0.0.1:5432/${pgSource}`,
        SCRATCH_PG_URL: scratchServer.url,
        DRILL_MY_URL: mysqlUrl(mySource),
        SCRATCH_MY_URL: mysqlUrl('mysql'),
        DRILL_FILES: files,
        TIDEMARK_PG_BIN: scratchServer.binDir,
      },
      redisDb: 7,
    });
    bus = new RedisStreamEventBus(stack.redisUrl);
    store = AzureBlobStore.fromConnectionString(stack.azurite.connectionString, CONTAINER);
    watching = setInterval(() => {
      void watchSource();
    }, 200);
  });

  after(async () => {
    clearInterval(watching);
    await bus.close();
    await stack.stop();
    await scratchServer.remove();
    await withClient(SOURCE_ADMIN, (c) => c.query(`DROP DATABASE IF EXISTS ${pgSource} WITH (FORCE)`));
    await withMysql(undefined, (c) => c.query(`DROP DATABASE IF EXISTS ${mySource}`));
    await rm(work, { recursive: true, force: true });
  });

  const drillHash = createHash('sha256').update('drill-pg').digest('hex').slice(0, 6);
  async function watchSource(): Promise<void> {
    const ours = (name: string): boolean =>
      name.startsWith(`tidemark_drill_${drillHash}`) ||
      (backups.get('drill-pg') ?? []).some((id) => name.includes(id.toLowerCase().replace(/-/g, '_'))) ||
      name.includes(pgSource.slice(0, 20));
    const rows = await withClient(SOURCE_ADMIN, (c) =>
      c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'tidemark%'"),
    ).catch(() => ({ rows: [] }));
    for (const { datname } of rows.rows) if (ours(datname)) seenOnSource.add(datname);
  }

  async function backup(targetId: string): Promise<string> {
    const result = await stack.cli(['backup', targetId, '--wait', '--json', '--timeout', '300']);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const { backupId } = JSON.parse(result.stdout) as { backupId: string };
    backups.set(targetId, [...(backups.get(targetId) ?? []), backupId]);
    return backupId;
  }

  /** The oldest backup goes to Cold, blob and manifest, as a retention tier move leaves it. */
  async function moveToCold(targetId: string, backupId: string): Promise<void> {
    const name = `${targetId}/${backupId}/manifest.json`;
    const stored = await store.readJson(name);
    assert.ok(stored);
    const manifest = parseManifest(stored.value, name);
    const blobName = manifest.locations.remote?.blobName ?? '';
    await store.setTier(blobName, 'Cold');
    const remote = { ...manifest.locations.remote, tier: 'Cold', tierSince: new Date().toISOString() };
    await store.writeJson(
      name,
      { ...manifest, locations: { ...manifest.locations, remote } },
      { ifMatch: stored.etag },
    );
  }

  async function reportsOf(targetId: string): Promise<DrillReport[]> {
    const found: DrillReport[] = [];
    for await (const item of store.list(`${targetId}/drills/`)) {
      const stored = await store.readJson(item.name);
      if (stored) found.push(drillReportSchema.parse(stored.value));
    }
    return found;
  }

  async function drillEvents(targetId: string): Promise<TidemarkEvent[]> {
    return (await bus.history({ targetId, limit: 1000 }))
      .map((e) => e.event)
      .filter((e) => isEvent(e, 'tidemark.drill.completed') || isEvent(e, 'tidemark.drill.failed'));
  }

  /** The first scheduled drill of `backupId` once it sat in Cold. */
  async function coldDrill(targetId: string, backupId: string): Promise<DrillReport> {
    return waitFor(
      async () =>
        (await reportsOf(targetId)).find((r) => r.backup.backupId === backupId && r.backup.tier === 'Cold'),
      { timeoutMs: 150_000, intervalMs: 1000, what: `a scheduled drill of ${targetId}/${backupId} in Cold` },
    ).catch(async (error: unknown) => {
      const found = await reportsOf(targetId);
      throw new Error(
        `${String(error)}; reports: ${JSON.stringify(found)}; verifier: ${stack.logs('verifier').slice(-3000)}`,
      );
    });
  }

  test('backups of each kind, the oldest of each moved to Cold', async () => {
    for (const targetId of ['drill-pg', 'drill-my']) {
      oldest.set(targetId, await backup(targetId));
      await backup(targetId);
    }
    const files = join(work, 'files');
    oldest.set('drill-files', await backup('drill-files'));
    await writeFile(join(files, 'added.txt'), 'added in the first incremental');
    await backup('drill-files');
    await writeFile(join(files, 'collections.dat'), 'collections v2, longer');
    await backup('drill-files');
    for (const [targetId, backupId] of oldest) await moveToCold(targetId, backupId);
    // The restore tests ran on the scratch server: the verifier said where, and warned for no target.
    assert.doesNotMatch(stack.logs('verifier'), /no verify\.scratch for this target/);
  });

  test('PostgreSQL: the oldest backup, from Cold, restored on the scratch server; checks and assertions hold', async () => {
    const backupId = oldest.get('drill-pg') ?? '';
    const report = await coldDrill('drill-pg', backupId);
    assert.equal(report.result, 'passed', JSON.stringify(report, null, 2));
    assert.deepEqual(report.picks, ['oldest']);
    assert.equal(report.scratch, 'scratch server ${SCRATCH_PG_URL}');
    assert.equal(report.backup.rehydrated, false);
    assert.ok(report.checks.some((c) => c.name === 'rows drill.orders' && c.ok && c.actual === '50'));
    assert.deepEqual(
      report.assertions.map((a) => [a.name, a.ok, a.expected?.slice(0, 16)]),
      [
        ['sql select count(*) > 0 from drill.orders', true, 'true'],
        ['sql select max(created_at) from drill.orders', true, 'within 26h of th'],
      ],
    );
    assert.equal(report.rto.targetSeconds, 1800);
    assert.equal(report.rto.breached, false);
    assert.ok(report.rto.seconds > 0);
    assert.ok(report.phasesMs.restore > 0 && report.phasesMs.download >= 0);
    assert.match(report.tools['server'] ?? '', /^PostgreSQL 15/);
    assert.deepEqual(report.cleanup, { ok: true });
    // The copy is gone from the scratch server, and nothing of these targets ever appeared on the source.
    const left = await scratchServer.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'tidemark_%'",
    );
    assert.deepEqual(left, []);
    await watchSource();
    assert.deepEqual([...seenOnSource], []);

    const event = (await drillEvents('drill-pg')).find((e) => e.data['drillId'] === report.drillId);
    assert.ok(event && isEvent(event, 'tidemark.drill.completed'));
    assert.equal(event.severity, 'info');
    assert.equal(event.data.backupId, backupId);
    assert.equal(event.data.report, `drill-pg/drills/${report.drillId}.json`);
    assert.equal(event.data.tier, 'Cold');
    const metrics = await stack.metrics('verifier');
    assert.match(metrics, /tidemark_drill_result\{[^}]*target="drill-pg"[^}]*\} 1/);
    assert.match(metrics, /tidemark_drill_rto_target_seconds\{[^}]*target="drill-pg"[^}]*\} 1800/);
    assert.match(metrics, /tidemark_drill_last_success_timestamp_seconds\{[^}]*target="drill-pg"[^}]*\} \d/);
    assert.match(metrics, /tidemark_drill_rto_seconds\{[^}]*target="drill-pg"[^}]*\} \d/);
  });

  test('MariaDB: an assertion that does not hold fails the drill, critical, with expected and actual', async () => {
    const report = await coldDrill('drill-my', oldest.get('drill-my') ?? '');
    assert.equal(report.result, 'failed');
    assert.ok(
      report.checks.every((c) => c.ok),
      JSON.stringify(report.checks),
    );
    assert.deepEqual(report.assertions, [
      { name: 'sql select count(*) = 999 from items', ok: false, expected: 'true', actual: '0' },
    ]);
    const event = (await drillEvents('drill-my')).find((e) => e.data['drillId'] === report.drillId);
    assert.ok(event && isEvent(event, 'tidemark.drill.failed'));
    assert.equal(event.severity, 'critical');
    assert.deepEqual(event.data.failed, [
      { name: 'sql select count(*) = 999 from items', expected: 'true', actual: '0' },
    ]);
    const left = await withMysql(undefined, async (c) => {
      const [rows] = await c.query("SHOW DATABASES LIKE 'tidemark\\_drill\\_%'");
      return rows as unknown[];
    });
    assert.deepEqual(left, [], 'the scratch copy was dropped although the drill failed');
    assert.match(await stack.metrics('verifier'), /tidemark_drill_result\{[^}]*target="drill-my"[^}]*\} 0/);
  });

  test('a directory chain: the oldest full from Cold and the newest through its chain; an RTO below the time taken breaches', async () => {
    const ids = backups.get('drill-files') ?? [];
    const newestId = ids.at(-1) ?? '';
    const oldestReport = await coldDrill('drill-files', oldest.get('drill-files') ?? '');
    assert.deepEqual(oldestReport.picks, ['oldest']);
    assert.equal(oldestReport.backup.members, 1, 'the full alone');
    const chain = await waitFor(
      async () => (await reportsOf('drill-files')).find((r) => r.backup.backupId === newestId),
      { timeoutMs: 30_000, intervalMs: 500, what: `the drill of the newest drill-files backup` },
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(await reportsOf('drill-files'), null, 2)}`);
    });

    assert.deepEqual(chain.picks, ['newest']);
    assert.ok(chain.backup.members >= 2, `restored through its chain (${chain.backup.members} members)`);
    assert.deepEqual(
      chain.checks.map((c) => [c.name, c.ok, c.expected, c.actual]),
      [['files', true, '2', '2']],
    );
    assert.deepEqual(chain.assertions, [
      { name: 'file collections.dat', ok: true, expected: 'exists, not empty', actual: '22 bytes' },
    ]);
    assert.equal(chain.rto.breached, true);
    assert.equal(chain.result, 'failed');
    const event = (await drillEvents('drill-files')).find((e) => e.data['drillId'] === chain.drillId);
    assert.ok(event && isEvent(event, 'tidemark.drill.failed'));
    assert.equal(event.severity, 'critical');
    assert.equal(event.data.rto.breached, true);
    assert.deepEqual(
      event.data.failed.map((f) => f.name),
      ['rto'],
    );
    assert.deepEqual(
      await readdir(join(work, 'scratch')).then((names) =>
        names.filter((n) => n.startsWith('tidemark_drill_')),
      ),
      [],
    );
  });

  test('tidemark drill --wait prints the report and exits 1 on a failed drill; drills lists the history; targets shows the scratch', async () => {
    const newestPg = backups.get('drill-pg')?.at(-1) ?? '';
    const passed = await stack.cli(['drill', 'drill-pg', '--backup', newestPg, '--wait', '--timeout', '180']);
    assert.equal(passed.code, 0, passed.stderr + passed.stdout);
    assert.match(passed.stdout, /^drill \S+ of drill-pg: PASSED$/m);
    assert.match(passed.stdout, /restored on scratch server \$\{SCRATCH_PG_URL\}/);
    assert.match(
      passed.stdout,
      /ok {3}sql select count\(\*\) > 0 from drill\.orders: expected true, got true/,
    );
    const newestMy = backups.get('drill-my')?.at(-1) ?? '';
    const failed = await stack.cli(['drill', 'drill-my', '--backup', newestMy, '--wait', '--timeout', '180']);
    assert.equal(failed.code, 1, failed.stderr + failed.stdout);
    assert.match(failed.stdout, /FAIL sql select count\(\*\) = 999 from items: expected true, got 0/);

    const history = await stack.cli(['drills', 'drill-pg', '--json']);
    assert.equal(history.code, 0, history.stderr);
    const rows = JSON.parse(history.stdout) as {
      backup: string;
      tier: string;
      result: string;
      rto: string;
    }[];
    assert.ok(
      rows.some((r) => r.backup === oldest.get('drill-pg') && r.tier === 'Cold' && r.result === 'passed'),
    );
    assert.ok(rows.some((r) => r.backup === newestPg && r.result === 'passed'));
    assert.match(rows[0]?.rto ?? '', /^\d+\.\d s \/ 1800 s$/);

    const targets = await stack.cli(['targets', '--json']);
    assert.equal(targets.code, 0, targets.stderr);
    const scratch = Object.fromEntries(
      (JSON.parse(targets.stdout) as { target: string; scratch: string }[]).map((t) => [t.target, t.scratch]),
    );
    assert.deepEqual(scratch, {
      'drill-pg': 'server ${SCRATCH_PG_URL}',
      'drill-my': 'server ${SCRATCH_MY_URL}',
      'drill-files': `directory ${join(work, 'scratch')}`,
    });
    await watchSource();
    assert.deepEqual([...seenOnSource], [], 'still nothing of these targets on the source server');
  });
});
