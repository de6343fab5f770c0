import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TableCount } from '@tidemark/manifest';
import { Client } from 'pg';
import { type SourceOptions, type SourceTarget } from '@tidemark/source-contract';
import { postgresKind } from './kind';
import {
  counted,
  databaseExists,
  pg,
  REAL_BIN,
  scriptDir,
  SERVER,
  slowDumpToFile,
  sourceError,
  suffix as randomSuffix,
  withClient,
} from '@tidemark/testing-sources';
import { PostgresSource } from './postgres-source';
import { RESTORE_STAGING_PREFIX, stagingName } from './staged-restore';

const createSource = (target: SourceTarget, options: SourceOptions = {}) =>
  postgresKind.create(target, options);

const REGISTER = join(__dirname, '..', '..', '..', 'tools', 'register.js');

const pgSource = (target: { kind: 'postgres'; url: string }, options: SourceOptions = {}): PostgresSource =>
  new PostgresSource(target.url, options);

const suffix = randomSuffix();
const SOURCE_DB = `tm_src_${suffix}`;
const RESTORED_DB = `tm_rst_${suffix}`;
const created: string[] = [SOURCE_DB, RESTORED_DB];

let admin: Client;
let workDir: string;
let dumpFile: string;
let dumpedCounts: TableCount[];

const SEED = `
  CREATE SCHEMA sales;
  CREATE SCHEMA "Audit Log";
  CREATE SEQUENCE sales.invoice_no START 1000;
  CREATE TABLE public.customers (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, profile jsonb, avatar bytea);
  CREATE TABLE sales.orders (
    id bigserial PRIMARY KEY, customer_id int REFERENCES public.customers (id), total numeric(12, 2),
    invoice bigint DEFAULT nextval('sales.invoice_no'), placed_at timestamptz DEFAULT now());
  CREATE TABLE "Audit Log"."Events ""quoted""" (id serial PRIMARY KEY, payload jsonb);
  CREATE TABLE public.empty_table (x int);
  CREATE TABLE sales.metrics (d date NOT NULL, v int) PARTITION BY RANGE (d);
  CREATE TABLE sales.metrics_2025 PARTITION OF sales.metrics FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  CREATE TABLE sales.metrics_2026 PARTITION OF sales.metrics FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
  CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE total > 500;
  INSERT INTO public.customers (name, profile, avatar)
    SELECT 'customer ' || g, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')), decode(md5(g::text), 'hex')
    FROM generate_series(1, 5000) g;
  INSERT INTO sales.orders (customer_id, total)
    SELECT 1 + g % 5000, (g % 1000)::numeric + 0.25 FROM generate_series(1, 12000) g;
  INSERT INTO "Audit Log"."Events ""quoted""" (payload) SELECT jsonb_build_object('e', g) FROM generate_series(1, 3000) g;
  INSERT INTO sales.metrics SELECT DATE '2025-06-01' + (g % 400), g FROM generate_series(1, 400) g;`;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'tidemark-sources-'));
  dumpFile = join(workDir, 'dump.pgc');
  admin = pg('postgres');
  await admin.connect();
  await admin.query(`CREATE DATABASE ${SOURCE_DB}`);
  const seed = pg(SOURCE_DB);
  await seed.connect();
  await seed.query(SEED);
  await seed.end();
});

after(async () => {
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  await rm(workDir, { recursive: true, force: true });
});

describe('createSource', () => {
  test('a bad URL is refused without its password', () => {
    assert.throws(
      () => createSource({ kind: 'postgres', url: 'postgres://postgres:s3cret@127.0.0.1:notaport/db' }),
      sourceError(
        'invalid-url',
        /^invalid PostgreSQL URL "postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:notaport\/db"/,
      ),
    );
  });
});

describe('preCheck', () => {
  test('reports the server, the tool and the size', async () => {
    const info = await pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` }).preCheck();
    assert.equal(info.kind, 'postgres');
    assert.equal(info.database, SOURCE_DB);
    assert.equal(info.host, '127.0.0.1:5432');
    assert.equal(info.serverMajor, 15);
    assert.match(info.serverVersion, /^15\.\d+$/);
    assert.match(info.dumpTool, /^pg_dump 15\.\d+$/);
    assert.ok(info.estimatedBytes > 1_000_000, `size ${info.estimatedBytes}`);
  });

  test('a closed port is source-unreachable', async () => {
    const source = pgSource({ kind: 'postgres', url: 'postgres://postgres:s3cret@127.0.0.1:5999/x' });
    await assert.rejects(
      source.preCheck(),
      sourceError('source-unreachable', 'cannot reach PostgreSQL at 127.0.0.1:5999: connection refused'),
    );
  });

  test('a missing database is source-missing-database', async () => {
    const source = pgSource({
      kind: 'postgres',
      url: `postgres://postgres:s3cret@127.0.0.1:5432/tm_none_${suffix}`,
    });
    await assert.rejects(
      source.preCheck(),
      sourceError('source-missing-database', `database "tm_none_${suffix}" does not exist on 127.0.0.1:5432`),
    );
  });

  test('a pg_dump older than the server is tool-too-old', async () => {
    const binDir = await scriptDir(workDir, {
      pg_dump: 'echo "pg_dump (PostgreSQL) 9.6.24"',
    });
    const source = pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` }, { binDir });
    await assert.rejects(
      source.preCheck(),
      sourceError(
        'tool-too-old',
        /^pg_dump 9\.6\.24 is older than the PostgreSQL 15\.\d+ server; install pg_dump 15 or newer$/,
      ),
    );
  });

  test('a directory without pg_dump is tool-missing, also through TIDEMARK_PG_BIN', async () => {
    const binDir = await mkdtemp(join(workDir, 'empty-'));
    const url = `${SERVER}/${SOURCE_DB}`;
    const expected = `pg_dump not found in ${binDir} (set TIDEMARK_PG_BIN)`;
    await assert.rejects(
      pgSource({ kind: 'postgres', url }, { binDir }).preCheck(),
      sourceError('tool-missing', expected),
    );
    const env = { ...process.env, TIDEMARK_PG_BIN: binDir };
    await assert.rejects(
      pgSource({ kind: 'postgres', url }, { env }).preCheck(),
      sourceError('tool-missing', expected),
    );
  });
});

describe('dump and restore', () => {
  test('counts match what the dump restores while another connection keeps inserting', async () => {
    const source = pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` });
    const writer = pg(SOURCE_DB);
    await writer.connect();
    const writes = { on: true };
    let batches = 0;
    const inserting = (async () => {
      while (writes.on) {
        await writer.query(
          `INSERT INTO sales.orders (customer_id, total) SELECT 1, 1 FROM generate_series(1, 20);
           INSERT INTO public.customers (name) VALUES ('late');`,
        );
        batches++;
      }
    })();
    try {
      while (batches < 5) await sleep(5); // writes are flowing before the snapshot is taken
      const started = performance.now();
      const handle = await source.dump();
      const batchesAtStart = batches;
      // A slow consumer stretches the dump so that writes land while pg_dump is copying.
      await slowDumpToFile(handle, dumpFile, 2);
      dumpedCounts = (await handle.content).tables;
      const elapsed = performance.now() - started;
      assert.ok(batches > batchesAtStart, 'rows were inserted while the dump ran');
      const size = (await stat(dumpFile)).size;
      console.log(`# dump of ${SOURCE_DB}: ${size} bytes in ${elapsed.toFixed(0)} ms (slowed consumer)`);
    } finally {
      writes.on = false;
      await inserting;
      await writer.end();
    }

    assert.deepEqual(
      dumpedCounts.map((t) => `${t.schema}.${t.name}`),
      [
        'Audit Log.Events "quoted"',
        'public.customers',
        'public.empty_table',
        'sales.metrics_2025',
        'sales.metrics_2026',
        'sales.orders',
      ],
    );
    const now = await source.tableCounts();
    const orders = (counts: TableCount[]): number => counts.find((t) => t.name === 'orders')!.rows;
    assert.ok(orders(now) > orders(dumpedCounts), 'the source moved on after the snapshot');

    const target = pgSource({ kind: 'postgres', url: `${SERVER}/${RESTORED_DB}` });
    await target.restore(createReadStream(dumpFile), { clean: false });
    assert.deepEqual(await target.tableCounts(), dumpedCounts);
  });

  test('restoring into a database that has tables needs clean', async () => {
    const target = pgSource({ kind: 'postgres', url: `${SERVER}/${RESTORED_DB}` });
    await assert.rejects(
      target.restore(createReadStream(dumpFile), { clean: false }),
      sourceError(
        'target-not-empty',
        `database "${RESTORED_DB}" already has 6 tables; pass --clean to replace them`,
      ),
    );
    const extra = pg(RESTORED_DB);
    await extra.connect();
    await extra.query('DELETE FROM sales.orders WHERE id % 2 = 0');
    await extra.end();
    await target.restore(createReadStream(dumpFile), { clean: true });
    assert.deepEqual(await target.tableCounts(), dumpedCounts);
  });

  test('a broken archive is restore-failed', async () => {
    created.push(`tm_bad_${suffix}`);
    const target = pgSource({ kind: 'postgres', url: `${SERVER}/tm_bad_${suffix}` });
    await assert.rejects(
      target.restore(Readable.from([randomBytes(10_000)]), { clean: false }),
      sourceError('restore-failed', /^pg_restore: error: .*not appear to be a valid archive/),
    );
  });

  test('abort stops pg_dump and releases the snapshot', async () => {
    const source = pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` });
    const handle = await source.dump();
    handle.abort();
    await assert.rejects(handle.finished, sourceError('dump-failed', 'pg_dump was aborted'));
    let sessions = -1;
    for (let i = 0; i < 50 && sessions !== 0; i++) {
      const { rows } = await admin.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tidemark'",
        [SOURCE_DB],
      );
      sessions = rows[0]!.n;
      if (sessions !== 0) await sleep(20);
    }
    assert.equal(sessions, 0);
  });

  test('a failing pg_dump rejects finished with its error line', async () => {
    const binDir = await scriptDir(workDir, {
      pg_dump:
        'if [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) 15.20"; exit 0; fi\n' +
        'echo "pg_dump: warning: noise" >&2; echo "pg_dump: error: query failed: ERROR:  permission denied" >&2; exit 1',
    });
    const handle = await pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` }, { binDir }).dump();
    handle.stdout.resume();
    await assert.rejects(
      handle.finished,
      sourceError('dump-failed', 'pg_dump: error: query failed: ERROR: permission denied'),
    );
  });

  test('the password from the URL reaches pg_dump only through the environment', async () => {
    const record = join(workDir, 'pg_dump-calls.txt');
    const binDir = await scriptDir(workDir, {
      pg_dump: `printf 'ARGS %s\\n' "$*" >> '${record}'\nenv | cut -d= -f1 | sed 's/^/ENV /' >> '${record}'\nexec ${REAL_BIN}/pg_dump "$@"`,
    });
    const url = `postgres://postgres:s3cret@127.0.0.1:5432/${SOURCE_DB}`;
    const source = pgSource({ kind: 'postgres', url }, { binDir });
    await source.preCheck();
    const handle = await source.dump();
    handle.stdout.resume();
    await handle.finished;
    const lines = (await readFile(record, 'utf8')).split('\n');
    const args = lines.filter((l) => l.startsWith('ARGS ')).map((l) => l.slice(5).split(' '));
    const dumpArgs = args.filter((a) => a[0] !== '--version');
    assert.equal(dumpArgs.length, 1);
    assert.deepEqual(dumpArgs[0]!.slice(0, 2), ['-Fc', '-Z0']);
    assert.match(dumpArgs[0]![2]!, /^--snapshot=[0-9A-F-]+$/);
    assert.deepEqual(dumpArgs[0]!.slice(3), ['--no-password']);
    assert.ok(
      args.flat().every((a) => a.startsWith('-')),
      'argv carries only flags',
    );
    assert.ok(!lines.join('\n').includes('s3cret'));
    const envNames = new Set(lines.filter((l) => l.startsWith('ENV ')).map((l) => l.slice(4)));
    for (const name of ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE', 'PGAPPNAME'])
      assert.ok(envNames.has(name), name);
  });
});

/** The first `fraction` of the dump file, then the error a checksum mismatch destroys the input with. */
function cutShort(fraction: number): Readable {
  const input = new PassThrough();
  // As in a pipeline, the error is seen by whoever reads, however early it comes.
  input.on('error', () => undefined);
  void (async () => {
    const whole = await readFile(dumpFile);
    input.write(whole.subarray(0, Math.floor(whole.length * fraction)));
    await sleep(50);
    input.destroy(new Error('checksum mismatch after 1234 bytes'));
  })();
  return input;
}

const leftoverNames = async (): Promise<string[]> =>
  (
    await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'tidemark\\_re%' AND datname LIKE $1 ORDER BY 1",
      [`%${suffix}%`],
    )
  ).rows.map((r) => r.datname);

describe('atomic restore', () => {
  test('a restore cut short creates nothing: the new target does not exist and no staging is left', async () => {
    const name = `tm_cut_${suffix}`;
    created.push(name);
    const target = pgSource({ kind: 'postgres', url: `${SERVER}/${name}` });
    await assert.rejects(
      target.restore(cutShort(0.6), { clean: false }),
      /checksum mismatch after 1234 bytes/,
    );
    assert.equal(await databaseExists(name), false);
    assert.deepEqual(await leftoverNames(), []);
  });

  test('--clean cut short keeps the old database exactly as it was', async () => {
    const name = `tm_old_${suffix}`;
    created.push(name);
    await admin.query(`CREATE DATABASE ${name}`);
    await withClient(name, (c) =>
      c.query('CREATE TABLE kept (id int); INSERT INTO kept SELECT generate_series(1, 77)'),
    );
    const target = pgSource({ kind: 'postgres', url: `${SERVER}/${name}` });
    await assert.rejects(target.restore(cutShort(0.9), { clean: true }), /checksum mismatch/);
    assert.deepEqual(await target.tableCounts(), [{ schema: 'public', name: 'kept', rows: 77 }]);
    assert.deepEqual(await leftoverNames(), []);
    // The same restore, whole, replaces it: the old table is gone, the dump's tables are there.
    await target.restore(createReadStream(dumpFile), { clean: true });
    assert.deepEqual(await target.tableCounts(), dumpedCounts);
    assert.deepEqual(await leftoverNames(), []);
  });

  test('a database with sessions connected is not replaced: target-busy before anything is written', async () => {
    const name = `tm_busy_${suffix}`;
    created.push(name);
    await admin.query(`CREATE DATABASE ${name}`);
    const session = pg(name);
    await session.connect();
    try {
      await session.query('CREATE TABLE kept (id int)');
      const target = pgSource({ kind: 'postgres', url: `${SERVER}/${name}` });
      await assert.rejects(
        target.restore(createReadStream(dumpFile), { clean: true }),
        sourceError(
          'target-busy',
          `database "${name}" cannot be replaced while 1 other session is connected to it; disconnect them and retry (nothing was changed)`,
        ),
      );
      assert.deepEqual(await leftoverNames(), []);
    } finally {
      await session.end();
    }
  });

  test('a restore killed with SIGKILL leaves only its named staging database, which the next restore removes', async () => {
    const name = `tm_kill_${suffix}`;
    created.push(name);
    const staging = `tidemark_restore_${name}`;
    created.push(staging);
    // A child process restores from a stream that never ends; it is killed once pg_restore is writing.
    const script = `
      const { PassThrough } = require('node:stream');
      const { readFileSync } = require('node:fs');
      const { PostgresSource } = require(${JSON.stringify(join(__dirname, 'postgres-source.ts'))});
      const input = new PassThrough();
      const whole = readFileSync(${JSON.stringify(dumpFile)});
      input.write(whole.subarray(0, Math.floor(whole.length / 2)));
      new PostgresSource(${JSON.stringify(`${SERVER}/${name}`)}).restore(input, { clean: false });`;
    const child = spawn(process.execPath, ['-r', REGISTER, '-e', script], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !(await databaseExists(staging)); i++) await sleep(50);
      assert.equal(await databaseExists(staging), true, 'the staging database was created');
      await sleep(300);
    } finally {
      child.kill('SIGKILL');
    }
    await once(child, 'exit');
    assert.equal(await databaseExists(name), false, 'the target was never created');
    assert.deepEqual(await leftoverNames(), [staging]);
    const target = pgSource({ kind: 'postgres', url: `${SERVER}/${name}` });
    await target.restore(createReadStream(dumpFile), { clean: false });
    assert.deepEqual(await target.tableCounts(), dumpedCounts);
    assert.deepEqual(await leftoverNames(), []);
  });

  test('staging names stay within 63 bytes and apart for long database names', () => {
    const long = 'x'.repeat(60);
    const a = stagingName(RESTORE_STAGING_PREFIX, `${long}a`);
    const b = stagingName(RESTORE_STAGING_PREFIX, `${long}b`);
    assert.ok(Buffer.byteLength(a) <= 63 && Buffer.byteLength(b) <= 63);
    assert.notEqual(a, b);
    assert.equal(stagingName(RESTORE_STAGING_PREFIX, 'orders'), 'tidemark_restore_orders');
  });
});

describe('checkStructure', () => {
  test('lists the archive and still reads every byte', async () => {
    const source = pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` });
    const input = counted(createReadStream(dumpFile));
    const result = await source.checkStructure(input.stream);
    assert.equal(result.ok, true, result.detail);
    assert.match(result.tool, /^pg_restore 15\.\d+$/);
    assert.ok(result.entries >= 20, `entries ${result.entries}`);
    assert.equal(input.bytes(), (await stat(dumpFile)).size);
  });

  test('garbage is not ok, and is read to its end too', async () => {
    const source = pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` });
    const input = counted(Readable.from([randomBytes(1 << 20), randomBytes(1 << 20)]));
    const result = await source.checkStructure(input.stream);
    assert.equal(result.ok, false);
    assert.match(result.detail ?? '', /pg_restore: error: .*valid archive/);
    assert.equal(input.bytes(), 2 << 20);
  });
});

describe('restoreTest', () => {
  test('passes with the dumped counts and drops the scratch database', async () => {
    const scratch = `tm_scr_ok_${suffix}`;
    created.push(scratch);
    const source = pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` });
    const result = await source.restoreTest(
      createReadStream(dumpFile),
      { tables: dumpedCounts },
      { name: scratch, dir: tmpdir() },
    );
    assert.equal(result.ok, true, JSON.stringify(result.checks));
    assert.equal(result.scratch, scratch);
    assert.ok(result.durationMs > 0);
    assert.deepEqual(result.checks[0], { name: 'tables', ok: true, expected: 6, actual: 6 });
    assert.deepEqual(
      result.checks.find((c) => c.name === 'rows sales.metrics_2026'),
      { name: 'rows sales.metrics_2026', ok: true, expected: 186, actual: 186 },
    );
    assert.equal(result.checks.length, 7);
    assert.equal(await databaseExists(scratch), false);
  });

  test('a wrong expected count fails that check only, and the scratch database is gone', async () => {
    const scratch = `tm_scr_bad_${suffix}`;
    created.push(scratch);
    const expected = dumpedCounts.map((t) => (t.name === 'customers' ? { ...t, rows: t.rows + 1 } : t));
    expected.push({ schema: 'public', name: 'ghost', rows: 0 });
    const source = pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` });
    const result = await source.restoreTest(
      createReadStream(dumpFile),
      { tables: expected },
      { name: scratch, dir: tmpdir() },
    );
    assert.equal(result.ok, false);
    const failed = result.checks.filter((c) => !c.ok);
    const customers = dumpedCounts.find((t) => t.name === 'customers')!.rows;
    assert.deepEqual(failed, [
      { name: 'tables', ok: false, expected: 7, actual: 6, detail: 'missing public.ghost' },
      { name: 'rows public.customers', ok: false, expected: customers + 1, actual: customers },
      { name: 'rows public.ghost', ok: false, expected: 0, detail: 'table missing after restore' },
    ]);
    assert.equal(await databaseExists(scratch), false);
  });

  test('a pg_restore failure is a failed check, not a throw', async () => {
    const scratch = `tm_scr_junk_${suffix}`;
    created.push(scratch);
    const source = pgSource({ kind: 'postgres', url: `${SERVER}/${SOURCE_DB}` });
    const result = await source.restoreTest(
      Readable.from([randomBytes(50_000)]),
      { tables: dumpedCounts },
      { name: scratch, dir: tmpdir() },
    );
    assert.equal(result.ok, false);
    assert.equal(result.checks.length, 1);
    assert.equal(result.checks[0]!.name, 'pg_restore');
    assert.match(result.checks[0]!.detail ?? '', /valid archive/);
    assert.equal(await databaseExists(scratch), false);
  });

  test('an unreachable server throws', async () => {
    const source = pgSource({ kind: 'postgres', url: 'postgres://postgres:s3cret@127.0.0.1:5999/x' });
    await assert.rejects(
      source.restoreTest(Readable.from([]), { tables: [] }, { name: `tm_scr_none_${suffix}`, dir: tmpdir() }),
      sourceError('source-unreachable'),
    );
  });
});
