import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackupContent } from '@tidemark/manifest';
import { type SourceTarget, type SourceOptions } from '@tidemark/source-contract';
import { postgresKind } from './kind';
import type { PostgresSettings } from './settings';
import { buildExclusion, splitPattern } from './excludes';
import { PostgresSource } from './postgres-source';
import {
  createDatabase,
  dropDatabases,
  SERVER,
  sourceError,
  suffix,
  toFile,
  withClient,
} from '@tidemark/testing-sources';

const createSource = (target: SourceTarget, options: SourceOptions = {}) =>
  postgresKind.create(target, options);

describe('splitPattern follows pg_dump', () => {
  const cases: [string, string[]][] = [
    ['Sales.*', ['^(sales)$', '^(.*)$']],
    ['"Audit Log"."Events ""quoted"""', ['^(Audit Log)$', '^(Events "quoted")$']],
    ['a$b', ['^(a\\$b)$']],
    ['"a.b"', ['^(a\\.b)$']],
    ['t?_X', ['^(t._x)$']],
    ['"x|y"', ['^(x\\|y)$']],
    ['x|y', ['^(x|y)$']],
    ['int[]', ['^(int\\[])$']],
    ['Ünïcode', ['^(Ünïcode)$']],
  ];
  for (const [pattern, parts] of cases) {
    test(pattern, () => {
      assert.deepEqual(splitPattern(pattern, 3).parts, parts);
    });
  }

  test('extra dots stay literal but are counted', () => {
    assert.deepEqual(splitPattern('a.b.c.d', 3), {
      parts: ['^(a)$', '^(b)$', '^(c.d)$'],
      literalFirst: 'a',
      dots: 3,
    });
    assert.deepEqual(splitPattern('x.y', 1), { parts: ['^(x.y)$'], literalFirst: 'x', dots: 1 });
  });

  test('patterns pg_dump refuses are refused before it starts', () => {
    const build = (settings: PostgresSettings) => () => buildExclusion(settings, 'shop', 150000);
    assert.throws(
      build({ excludeTables: ['a.b.c.d'] }),
      sourceError(
        'invalid-settings',
        '--exclude-table pattern "a.b.c.d": improper relation name (too many dotted names)',
      ),
    );
    assert.throws(
      build({ excludeTables: ['other.public.t'] }),
      sourceError(
        'invalid-settings',
        '--exclude-table pattern "other.public.t": cross-database references are not implemented',
      ),
    );
    assert.throws(
      build({ excludeSchemas: ['shop.public'] }),
      sourceError(
        'invalid-settings',
        '--exclude-schema pattern "shop.public": cross-database references are not implemented',
      ),
    );
    assert.doesNotThrow(build({ excludeTables: ['SHOP.public.t'] }));
  });
});

const db = `tm_exc_${suffix()}`;
const restored = `${db}_rst`;
const SEED = `
  CREATE SCHEMA sales;
  CREATE SCHEMA other;
  CREATE SCHEMA "Audit Log";
  CREATE SCHEMA tmp_a;
  CREATE SCHEMA tmp_b;
  CREATE SCHEMA "Tmp_c";
  CREATE TABLE public.keep (id int);
  CREATE TABLE public.skip_1 (id int);
  CREATE TABLE public.skip_2 (id int);
  CREATE TABLE other.skip_3 (id int);
  CREATE TABLE public."MixedCase" (id int);
  CREATE TABLE public.mixedcase (id int);
  CREATE TABLE public."a$b" (id int);
  CREATE TABLE public.axb (id int);
  CREATE TABLE sales.big1 (id int);
  CREATE TABLE sales.big22 (id int);
  CREATE TABLE sales."Big3" (id int);
  CREATE TABLE "Audit Log"."Events ""quoted""" (id int);
  CREATE TABLE "Audit Log".other (id int);
  CREATE TABLE tmp_a.t (id int);
  CREATE TABLE tmp_b.t (id int);
  CREATE TABLE "Tmp_c".t (id int);
  CREATE TABLE sales.metrics (d date NOT NULL, v int) PARTITION BY RANGE (d);
  CREATE TABLE sales.metrics_2025 PARTITION OF sales.metrics FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  CREATE TABLE sales.metrics_2026 PARTITION OF sales.metrics FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
  DO $$
  DECLARE r record;
  BEGIN
    FOR r IN SELECT c.oid::regclass AS t, row_number() OVER () AS n FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') LOOP
      IF r.t::text NOT LIKE '%metrics%' THEN
        EXECUTE format('INSERT INTO %s SELECT generate_series(1, %s)', r.t, 10 * r.n);
      END IF;
    END LOOP;
  END $$;
  INSERT INTO sales.metrics SELECT DATE '2025-06-01' + (g % 400), g FROM generate_series(1, 400) g;`;

const SETTINGS: PostgresSettings = {
  // Unqualified: only tables visible on the search path (other.skip_3 stays). Quoted: exact case. `$` is literal.
  excludeTables: [
    'skip_*',
    '"MixedCase"',
    'a$b',
    'Sales.Big?',
    '"Audit Log"."Events ""quoted"""',
    'sales.metrics_2026',
    'nothing_here',
  ],
  // Unquoted letters fold to lower case, so "Tmp_c" stays.
  excludeSchemas: ['TMP_*'],
};

// In count order: schema, then name, byte-wise.
const KEPT = [
  'Audit Log.other',
  'Tmp_c.t',
  'other.skip_3',
  'public.axb',
  'public.keep',
  'public.mixedcase',
  'sales.Big3',
  'sales.big22',
  'sales.metrics_2025',
];

let work: string;
let dumpFile: string;
let content: BackupContent;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'tidemark-exc-'));
  dumpFile = join(work, 'dump.pgc');
  await createDatabase(db, SEED);
});

after(async () => {
  await dropDatabases([db, restored]);
  await rm(work, { recursive: true, force: true });
});

const label = (t: { schema: string; name: string }): string => `${t.schema}.${t.name}`;

describe('excludes', () => {
  test('the dump and its counts leave out exactly the excluded tables', async () => {
    const source = createSource({ kind: 'postgres', url: `${SERVER}/${db}`, options: SETTINGS });
    assert.ok(source instanceof PostgresSource);
    await source.preCheck();
    const handle = await source.dump({ backupId: 'x', workDir: work });
    await Promise.all([toFile(handle.stdout, dumpFile), handle.finished]);
    content = await handle.content;
    assert.deepEqual(content.tables.map(label), KEPT);
    assert.ok(
      content.tables.every((t) => t.rows > 0),
      JSON.stringify(content.tables),
    );
    assert.deepEqual((await source.tableCounts()).map(label), content.tables.map(label));
  });

  test('the restore test finds the same tables pg_dump wrote', async () => {
    const source = new PostgresSource(`${SERVER}/${db}`, { settings: SETTINGS });
    const result = await source.restoreTest(createReadStream(dumpFile), content, {
      name: `${db}_scr`,
      dir: work,
    });
    assert.equal(result.ok, true, JSON.stringify(result.checks.filter((c) => !c.ok)));
    assert.deepEqual(result.checks[0], {
      name: 'tables',
      ok: true,
      expected: KEPT.length,
      actual: KEPT.length,
    });
  });

  test('a restore holds the kept tables with their rows', async () => {
    const target = new PostgresSource(`${SERVER}/${restored}`);
    await target.restore(createReadStream(dumpFile), { clean: false });
    assert.deepEqual(await target.tableCounts(), content.tables);
    const schemas = await withClient(restored, (c) =>
      c.query<{ n: string }>(
        "SELECT nspname AS n FROM pg_namespace WHERE nspname LIKE 'tmp%' OR nspname = 'Tmp_c' ORDER BY 1",
      ),
    );
    assert.deepEqual(
      schemas.rows.map((r) => r.n),
      ['Tmp_c'],
    );
  });

  test('a cross-database pattern fails the dump before pg_dump starts', async () => {
    const source = new PostgresSource(`${SERVER}/${db}`, {
      settings: { excludeTables: ['elsewhere.public.t'] },
    });
    const expected = sourceError('invalid-settings', /cross-database references are not implemented$/);
    await assert.rejects(source.preCheck(), expected);
    await assert.rejects(source.dump(), expected);
  });
});
