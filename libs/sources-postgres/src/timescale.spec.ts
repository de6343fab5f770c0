import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BackupContent, TableCount } from '@tidemark/manifest';
import type { PostgresSettings } from './settings';
import { PostgresSource } from './postgres-source';
import { RESTORE_STAGING_PREFIX, stagingName } from './staged-restore';
import {
  createDatabase,
  databaseExists,
  dropDatabases,
  FAKE_VERSION,
  type FakeTimescale,
  installFakeTimescale,
  readRecord,
  REAL_BIN,
  removeRecords,
  SERVER,
  suffix,
  toFile,
  withClient,
} from '@tidemark/testing-sources';

const run = promisify(execFile);
const tag = suffix();
const DB = `tm_ts_${tag}`;
const databases = [DB];

const SEED = `
  CREATE EXTENSION timescaledb;
  CREATE TABLE public.conditions (time timestamptz NOT NULL, device int, temp float);
  SELECT create_hypertable('public.conditions');
  CREATE SCHEMA "Metrics";
  CREATE TABLE "Metrics"."CPU load" (time timestamptz NOT NULL, v int);
  SELECT create_hypertable('"Metrics"."CPU load"');
  CREATE TABLE public.devices (id int PRIMARY KEY);
  INSERT INTO public.conditions SELECT now() - g * interval '1 minute', g % 10, g / 3.0 FROM generate_series(1, 1000) g;
  INSERT INTO "Metrics"."CPU load" SELECT now() - g * interval '1 second', g FROM generate_series(1, 300) g;
  INSERT INTO public.devices SELECT generate_series(1, 10);`;

const HYPERTABLES: TableCount[] = [
  { schema: 'Metrics', name: 'CPU load', rows: 300 },
  { schema: 'public', name: 'conditions', rows: 1000 },
];

let fake: FakeTimescale;
let work: string;
const dumps: Record<'custom' | 'tar', { file: string; content?: BackupContent }> = {
  custom: { file: '' },
  tar: { file: '' },
};

/** Skips (with the reason) where the fake extension could not be installed. */
function needsFake(t: TestContext): boolean {
  if (fake.unavailable === undefined) return true;
  t.skip(fake.unavailable);
  return false;
}

async function dump(settings: PostgresSettings, file: string): Promise<BackupContent> {
  const source = new PostgresSource(`${SERVER}/${DB}`, { settings });
  const handle = await source.dump({ backupId: 'b', workDir: work });
  await Promise.all([toFile(handle.stdout, file), handle.finished]);
  return handle.content;
}

/** pre ran before anything was restored, post after all rows were in; the database was left out of restoring mode. */
async function assertWrapped(database: string): Promise<void> {
  const pre = await readRecord(database, 'pre');
  const post = await readRecord(database, 'post');
  assert.ok(pre && post, `pre and post were both called in ${database}`);
  assert.deepEqual([pre.restoring, pre.userTables, pre.hypertables], ['on', 0, {}]);
  assert.deepEqual(post.hypertables, { 'Metrics.CPU load': 300, 'public.conditions': 1000 });
  assert.equal(post.userTables, 3);
  assert.ok(Date.parse(pre.at) < Date.parse(post.at));
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'tidemark-ts-'));
  dumps.custom.file = join(work, 'dump.pgc');
  dumps.tar.file = join(work, 'dump.pgd.tar');
  fake = await installFakeTimescale();
  if (fake.unavailable === undefined) await createDatabase(DB, SEED);
});

after(async () => {
  await dropDatabases(databases);
  await removeRecords(databases);
  await fake.remove();
  await rm(work, { recursive: true, force: true });
});

describe('TimescaleDB (fake extension)', () => {
  test('preCheck reports the extension only where it is installed', async (t) => {
    if (!needsFake(t)) return;
    assert.equal((await new PostgresSource(`${SERVER}/${DB}`).preCheck()).timescaledb, FAKE_VERSION);
    assert.equal('timescaledb' in (await new PostgresSource(`${SERVER}/postgres`).preCheck()), false);
  });

  test('the dump records rows per hypertable in its snapshot, and leaves out excluded ones', async (t) => {
    if (!needsFake(t)) return;
    const content = await dump({}, dumps.custom.file);
    dumps.custom.content = content;
    assert.deepEqual(content.hypertables, HYPERTABLES);
    assert.deepEqual(
      content.tables.map((x) => `${x.schema}.${x.name}`),
      ['Metrics.CPU load', 'public.conditions', 'public.devices'],
    );
    const excluded = await dump({ excludeSchemas: ['"Metrics"'] }, join(work, 'excluded.pgc'));
    assert.deepEqual(excluded.hypertables, HYPERTABLES.slice(1));
  });

  test('the restore test wraps pg_restore in pre/post restore and compares hypertable rows', async (t) => {
    if (!needsFake(t)) return;
    const content = dumps.custom.content;
    assert.ok(content);
    const scratch = `${DB}_scr`;
    databases.push(scratch);
    const source = new PostgresSource(`${SERVER}/${DB}`);
    const result = await source.restoreTest(createReadStream(dumps.custom.file), content, {
      name: scratch,
      dir: work,
    });
    assert.equal(result.ok, true, JSON.stringify(result.checks.filter((c) => !c.ok)));
    assert.deepEqual(
      result.checks.filter((c) => c.name.startsWith('hypertable ')),
      [
        { name: 'hypertable Metrics.CPU load', ok: true, expected: 300, actual: 300 },
        { name: 'hypertable public.conditions', ok: true, expected: 1000, actual: 1000 },
      ],
    );
    await assertWrapped(scratch);
    assert.equal(await databaseExists(scratch), false);

    const wrong = `${DB}_scr2`;
    databases.push(wrong);
    const expected = { ...content, hypertables: HYPERTABLES.map((h) => ({ ...h, rows: h.rows + 1 })) };
    const failed = await source.restoreTest(createReadStream(dumps.custom.file), expected, {
      name: wrong,
      dir: work,
    });
    assert.equal(failed.ok, false);
    assert.deepEqual(
      failed.checks.filter((c) => !c.ok).map((c) => c.name),
      ['hypertable Metrics.CPU load', 'hypertable public.conditions'],
    );
  });

  test('restore into a new database detects the extension in the archive and wraps too', async (t) => {
    if (!needsFake(t)) return;
    const target = `${DB}_rst`;
    databases.push(target);
    const restored = new PostgresSource(`${SERVER}/${target}`);
    await restored.restore(createReadStream(dumps.custom.file), { clean: false });
    // The restore ran in the staging database that was then renamed to the target.
    await assertWrapped(stagingName(RESTORE_STAGING_PREFIX, target));
    assert.deepEqual(await restored.tableCounts(), dumps.custom.content?.tables);
    const settings = await withClient('postgres', (c) =>
      c.query(
        'SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1',
        [target],
      ),
    );
    assert.equal(settings.rowCount, 0, 'timescaledb.restoring was reset');
  });

  test('without the wrapping the fake refuses the restore (so the wrapping is what made it pass)', async (t) => {
    if (!needsFake(t)) return;
    const target = `${DB}_raw`;
    databases.push(target);
    await createDatabase(target);
    await assert.rejects(
      run(`${REAL_BIN}/pg_restore`, [
        '--exit-on-error',
        '--no-owner',
        '-h',
        '127.0.0.1',
        '-U',
        'postgres',
        '-d',
        target,
        dumps.custom.file,
      ]),
      /restored without timescaledb_pre_restore\(\)/,
    );
  });

  test('a parallel (directory) dump restores wrapped as well, in the restore test and in a restore', async (t) => {
    if (!needsFake(t)) return;
    const content = await dump({ jobs: 2 }, dumps.tar.file);
    assert.deepEqual(content.hypertables, HYPERTABLES);
    const scratch = `${DB}_scr_j`;
    databases.push(scratch);
    const source = new PostgresSource(`${SERVER}/${DB}`, { settings: { jobs: 2 } });
    const result = await source.restoreTest(createReadStream(dumps.tar.file), content, {
      name: scratch,
      dir: work,
    });
    assert.equal(result.ok, true, JSON.stringify(result.checks.filter((c) => !c.ok)));
    await assertWrapped(scratch);
    const target = `${DB}_rst_j`;
    databases.push(target);
    await new PostgresSource(`${SERVER}/${target}`, { settings: { jobs: 2 } }).restore(
      createReadStream(dumps.tar.file),
      {
        clean: false,
      },
    );
    // The restore ran in the staging database that was then renamed to the target.
    await assertWrapped(stagingName(RESTORE_STAGING_PREFIX, target));
  });
});
