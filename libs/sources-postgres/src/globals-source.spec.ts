import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { BackupContent } from '@tidemark/manifest';
import { type SourceTarget, type SourceOptions } from '@tidemark/source-contract';
import { postgresKind } from './kind';
import { GLOBALS_DATABASE, PostgresGlobalsSource } from './globals-source';
import { createdRole } from './globals-sql';
import { SERVER, sourceError, suffix, toFile, withClient } from '@tidemark/testing-sources';

const createSource = (target: SourceTarget, options: SourceOptions = {}) =>
  postgresKind.create(target, options);

const tag = suffix();
const PLAIN = `tm_role_${tag}`;
const MIXED = `Tm Mixed "q" ${tag}`;
const LATE = `tm_late_${tag}`;
const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;

let work: string;
let dumpFile: string;
let content: BackupContent;

async function role(name: string): Promise<{ rolcanlogin: boolean; rolpassword: string | null } | undefined> {
  const { rows } = await withClient('postgres', (c) =>
    c.query<{ rolcanlogin: boolean; rolpassword: string | null }>(
      'SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1',
      [name],
    ),
  );
  return rows[0];
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'tidemark-globals-'));
  dumpFile = join(work, 'globals.sql');
  await withClient('postgres', async (c) => {
    await c.query(`CREATE ROLE ${quoted(PLAIN)} LOGIN PASSWORD 'pw-${tag}'`);
    await c.query(`CREATE ROLE ${quoted(MIXED)} NOLOGIN`);
    await c.query(`GRANT ${quoted(MIXED)} TO ${quoted(PLAIN)}`);
  });
});

after(async () => {
  await withClient('postgres', async (c) => {
    for (const name of [PLAIN, MIXED, LATE, `${LATE}_cut`])
      await c.query(`DROP ROLE IF EXISTS ${quoted(name)}`);
  });
  await rm(work, { recursive: true, force: true });
});

describe('globals', () => {
  test('createSource picks the globals source, from a server URL without a database', async () => {
    const source = createSource({ kind: 'postgres', url: SERVER, options: { globalsOnly: true } });
    assert.ok(source instanceof PostgresGlobalsSource);
    assert.equal(source.format, 'pg_dumpall-globals');
    const info = await source.preCheck();
    assert.equal(info.database, GLOBALS_DATABASE);
    assert.match(info.dumpTool, /^pg_dumpall 15\.\d+$/);
    assert.equal(info.host, '127.0.0.1:5432');
  });

  test('the dump creates the test roles and records them as content', async () => {
    const source = new PostgresGlobalsSource(`${SERVER}/postgres`);
    const handle = await source.dump();
    await Promise.all([toFile(handle.stdout, dumpFile), handle.finished]);
    content = await handle.content;
    const recorded = content.tables.filter((t) => t.name.endsWith(tag));
    assert.deepEqual(recorded, [
      { schema: 'role', name: MIXED, rows: 0 },
      { schema: 'role', name: PLAIN, rows: 0 },
    ]);
    assert.ok(content.tables.some((t) => t.name === 'postgres'));
    assert.ok(content.tables.every((t) => t.schema === 'role' && !t.name.startsWith('pg_')));
    const script = await readFile(dumpFile, 'utf8');
    assert.match(
      script,
      new RegExp(`^CREATE ROLE ${quoted(MIXED).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};$`, 'm'),
    );
    assert.ok(script.includes(`CREATE ROLE ${PLAIN};`));
    assert.deepEqual(await source.tableCounts().then((t) => t.filter((r) => r.name.endsWith(tag))), recorded);
  });

  test('checkStructure counts CREATE ROLE statements and wants the trailer', async () => {
    const source = new PostgresGlobalsSource(SERVER);
    const script = await readFile(dumpFile, 'utf8');
    const roles = script.split('\n').filter((line) => createdRole(line) !== undefined).length;
    const ok = await source.checkStructure(createReadStream(dumpFile));
    assert.deepEqual(ok, { ok: true, tool: 'tidemark globals scan', entries: roles });
    assert.ok(roles >= 3);
    const cut = script.slice(0, script.indexOf('-- PostgreSQL database cluster dump complete'));
    const bad = await source.checkStructure(Readable.from([cut]));
    assert.equal(bad.ok, false);
    assert.match(bad.detail ?? '', /does not end with "-- PostgreSQL database cluster dump complete"/);
  });

  test('the restore test checks every recorded role is created by the script', async () => {
    const source = new PostgresGlobalsSource(SERVER);
    const scratch = { name: 'unused', dir: work };
    const good = await source.restoreTest(createReadStream(dumpFile), content, scratch);
    assert.equal(good.ok, true, JSON.stringify(good.checks));
    const count = content.tables.length;
    assert.deepEqual(good.checks, [
      { name: 'roles', ok: true, expected: count, actual: count },
      { name: 'complete', ok: true },
    ]);
    const ghost = { tables: [...content.tables, { schema: 'role', name: `ghost_${tag}`, rows: 0 }] };
    const bad = await source.restoreTest(createReadStream(dumpFile), ghost, scratch);
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.checks[0], {
      name: 'roles',
      ok: false,
      expected: ghost.tables.length,
      actual: content.tables.length,
      detail: `missing CREATE ROLE for ghost_${tag}`,
    });
    assert.deepEqual(bad.checks[1], { name: 'complete', ok: true });
  });

  test('restore tolerates existing roles and recreates a dropped one with its password and memberships', async () => {
    const before = await role(PLAIN);
    assert.ok(before?.rolpassword);
    const source = new PostgresGlobalsSource(SERVER);
    await source.restore(createReadStream(dumpFile), { clean: false });
    await withClient('postgres', (c) => c.query(`DROP ROLE ${quoted(PLAIN)}`));
    assert.equal(await role(PLAIN), undefined);
    await source.restore(createReadStream(dumpFile), { clean: true });
    assert.deepEqual(await role(PLAIN), before);
    const member = await withClient('postgres', (c) =>
      c.query<{ m: boolean }>('SELECT pg_has_role($1, $2, $3) AS m', [PLAIN, MIXED, 'MEMBER']),
    );
    assert.equal(member.rows[0]?.m, true);
  });

  test('a role that does not exist yet is created', async () => {
    const script = (await readFile(dumpFile, 'utf8')).replace(
      '\n--\n-- PostgreSQL database cluster dump complete',
      `\nCREATE ROLE ${LATE};\nALTER ROLE ${LATE} WITH NOLOGIN;\n\n--\n-- PostgreSQL database cluster dump complete`,
    );
    await new PostgresGlobalsSource(SERVER).restore(Readable.from([script]), { clean: false });
    assert.deepEqual(await role(LATE), { rolcanlogin: false, rolpassword: null });
  });

  test('a script whose stream fails part-way (a checksum mismatch) creates no role at all', async () => {
    const late = `${LATE}_cut`;
    const script = `CREATE ROLE ${late};\nALTER ROLE ${late} WITH NOLOGIN;\n`;
    const input = new Readable({ read() {} });
    input.push(script);
    setTimeout(() => input.destroy(new Error('checksum mismatch after 60 bytes')), 100);
    await assert.rejects(
      new PostgresGlobalsSource(SERVER).restore(input, { clean: false }),
      /checksum mismatch after 60 bytes/,
    );
    assert.equal(await role(late), undefined, 'the role was not created');
  });

  test('any other error fails the restore with its line', async () => {
    const file = join(work, 'broken.sql');
    await writeFile(file, `CREATE ROLE postgres;\nALTER ROLE no_such_role_${tag} WITH LOGIN;\nSELECT 1/0;\n`);
    await assert.rejects(
      new PostgresGlobalsSource(SERVER).restore(createReadStream(file), { clean: false }),
      sourceError('restore-failed', `psql:<stdin>:2: ERROR: role "no_such_role_${tag}" does not exist`),
    );
  });

  test('a missing pg_dumpall is tool-missing', async () => {
    const binDir = await mkdtemp(join(work, 'empty-'));
    const source = new PostgresGlobalsSource(SERVER, { binDir });
    const expected = sourceError('tool-missing', `pg_dumpall not found in ${binDir} (set TIDEMARK_PG_BIN)`);
    await assert.rejects(source.preCheck(), expected);
    await assert.rejects(source.dump(), expected);
  });

  test('an unreachable server is source-unreachable', async () => {
    const source = new PostgresGlobalsSource('postgres://postgres:s3cret@127.0.0.1:5999');
    await assert.rejects(source.preCheck(), sourceError('source-unreachable'));
    await assert.rejects(
      source.restore(Readable.from(['']), { clean: false }),
      sourceError('source-unreachable'),
    );
  });
});
