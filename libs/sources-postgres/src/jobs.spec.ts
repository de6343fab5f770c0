import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { BackupContent } from '@tidemark/manifest';
import { type SourceTarget, type SourceOptions } from '@tidemark/source-contract';
import { postgresKind } from './kind';
import { PostgresSource } from './postgres-source';
import {
  createDatabase,
  databaseExists,
  dropDatabases,
  pg,
  SERVER,
  sourceError,
  suffix,
  withClient,
} from '@tidemark/testing-sources';
import { TarWriter } from '@tidemark/source-contract';
import { readDumpTar } from './dump-tar';

const createSource = (target: SourceTarget, options: SourceOptions = {}) =>
  postgresKind.create(target, options);

const run = promisify(execFile);
const tag = suffix();
const SOURCE_DB = `tm_jobs_${tag}`;
const RESTORED_DB = `${SOURCE_DB}_rst`;
const databases = [SOURCE_DB, RESTORED_DB];

const SEED = `
  CREATE SCHEMA "Mixed Schema";
  CREATE TABLE public.big (id int PRIMARY KEY, t text);
  CREATE TABLE public.small (id int PRIMARY KEY, t text);
  CREATE TABLE public.static2 (id int PRIMARY KEY, v numeric, j jsonb);
  CREATE TABLE public.empty_one (x int);
  CREATE TABLE "Mixed Schema"."Hot Table" (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
  INSERT INTO public.big SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 600000) g;
  INSERT INTO public.small SELECT g, 'row ' || g FROM generate_series(1, 100) g;
  INSERT INTO public.static2 SELECT g, g / 7.0, jsonb_build_object('g', g) FROM generate_series(1, 50000) g;
  INSERT INTO "Mixed Schema"."Hot Table" SELECT FROM generate_series(1, 1000);
  SELECT lo_from_bytea(0, convert_to('large object ${tag}', 'UTF8'));`;

const STATIC = ['public.big', 'public.small', 'public.static2', 'public.empty_one'];

let work: string;
let tarFile: string;
let content: BackupContent;
let members: string[];

const jobsSource = (url = `${SERVER}/${SOURCE_DB}`, options = {}): PostgresSource =>
  new PostgresSource(url, { ...options, settings: { jobs: 2 } });

async function digest(database: string, table: string): Promise<string> {
  const { rows } = await withClient(database, (c) =>
    c.query<{ d: string }>(
      `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS d FROM ${table} t`,
    ),
  );
  return rows[0]?.d ?? '';
}

async function largeObjects(database: string): Promise<string[]> {
  const { rows } = await withClient(database, (c) =>
    c.query<{ data: string }>(
      "SELECT convert_from(lo_get(oid), 'UTF8') AS data FROM pg_largeobject_metadata ORDER BY 1",
    ),
  );
  return rows.map((r) => r.data);
}

/** pg_dump workers busy with a COPY in the source database right now. */
async function copiesRunning(): Promise<number> {
  const { rows } = await withClient('postgres', (c) =>
    c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE 'COPY %'",
      [SOURCE_DB],
    ),
  );
  return rows[0]?.n ?? 0;
}

async function tarMembers(file: string): Promise<{ name: string; size: number }[]> {
  const list: { name: string; size: number }[] = [];
  await readDumpTar(createReadStream(file), async (member) => {
    list.push({ name: member.name, size: member.size });
    for await (const _chunk of member.body);
  });
  return list;
}

/** A copy of the dump's tar without `skip`, written with the same writer. */
async function tarWithout(skip: string, out: string): Promise<void> {
  const writer = new TarWriter();
  const written = pipeline(writer.stream, createWriteStream(out));
  await readDumpTar(createReadStream(tarFile), async (member) => {
    if (member.name === skip) return;
    const entry = writer.open({ name: member.name, size: member.size });
    for await (const chunk of member.body) await entry.write(chunk);
    await entry.end();
  });
  writer.finish();
  await written;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'tidemark-jobs-'));
  tarFile = join(work, 'dump.pgd.tar');
  await createDatabase(SOURCE_DB, SEED);
});

after(async () => {
  await dropDatabases(databases);
  await rm(work, { recursive: true, force: true });
});

describe('parallel jobs', () => {
  test('the format follows the jobs setting', () => {
    const at = (jobs?: number) =>
      createSource({ kind: 'postgres', url: `${SERVER}/x`, options: jobs === undefined ? {} : { jobs } })
        .format;
    assert.equal(at(), 'pg_dump-custom');
    assert.equal(at(1), 'pg_dump-custom');
    assert.equal(at(2), 'pg_dump-directory-tar');
    assert.equal(at(8), 'pg_dump-directory-tar');
  });

  test('dumps as a tar streamed while pg_dump runs, with counts from its snapshot under concurrent writes', async () => {
    const workDir = join(work, 'dump-work');
    await mkdir(workDir);
    const writer = pg(SOURCE_DB);
    await writer.connect();
    const writes = { on: true, batches: 0 };
    const inserting = (async () => {
      while (writes.on) {
        await writer.query(`INSERT INTO "Mixed Schema"."Hot Table" SELECT FROM generate_series(1, 50)`);
        writes.batches++;
      }
    })();
    let copying: Promise<number> | undefined;
    try {
      while (writes.batches < 5) await sleep(5);
      const handle = await jobsSource().dump({ backupId: 'b', workDir });
      const batchesAtStart = writes.batches;
      const file = createWriteStream(tarFile);
      const observe = new Writable({
        write(chunk: Buffer, _encoding, done) {
          copying ??= copiesRunning();
          // A slow consumer: writes keep landing while the tar is read.
          copying.then(() => file.write(chunk, () => setTimeout(done, 1)), done);
        },
        final(done) {
          file.end(done);
        },
      });
      await Promise.all([pipeline(handle.stdout, observe), handle.finished]);
      content = await handle.content;
      assert.ok(writes.batches > batchesAtStart, 'rows were inserted while the dump ran');
    } finally {
      writes.on = false;
      await inserting;
      await writer.end();
    }
    // The first table file reached the tar while pg_dump was still copying the big table.
    assert.ok(((await copying) ?? 0) >= 1, 'a COPY was running when the first member arrived');
    assert.deepEqual(await readdir(workDir), [], 'the dump directory is gone');

    assert.deepEqual(
      content.tables.map((t) => `${t.schema}.${t.name}`),
      ['Mixed Schema.Hot Table', 'public.big', 'public.empty_one', 'public.small', 'public.static2'],
    );
    const list = await tarMembers(tarFile);
    members = list.map((m) => m.name);
    assert.equal(members.at(-1), 'toc.dat');
    assert.ok(members.includes('blobs.toc'));
    assert.equal(members.filter((m) => /^\d+\.dat$/.test(m)).length, 5);
    // Stock tar reads it too.
    const { stdout } = await run('tar', ['-tf', tarFile]);
    assert.deepEqual(stdout.trim().split('\n'), members);
  });

  test('the structure check lists toc.dat and finds every data file, reading the whole tar', async () => {
    let bytes = 0;
    const input = createReadStream(tarFile).pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      }),
    );
    const result = await jobsSource().checkStructure(input);
    assert.equal(result.ok, true, result.detail);
    assert.match(result.tool, /^pg_restore 15\.\d+$/);
    assert.ok(result.entries >= 15, `entries ${result.entries}`);
    assert.equal(bytes, (await stat(tarFile)).size);
  });

  test('restore with -j 2 gives the recorded counts and identical static tables and large objects', async () => {
    const target = jobsSource(`${SERVER}/${RESTORED_DB}`);
    await target.restore(createReadStream(tarFile), { clean: false });
    assert.deepEqual(await target.tableCounts(), content.tables);
    for (const table of STATIC)
      assert.equal(await digest(RESTORED_DB, table), await digest(SOURCE_DB, table), table);
    assert.deepEqual(await largeObjects(RESTORED_DB), [`large object ${tag}`]);
    // Restoring again over it needs clean, and works with it.
    await assert.rejects(
      target.restore(createReadStream(tarFile), { clean: false }),
      sourceError('target-not-empty'),
    );
    await target.restore(createReadStream(tarFile), { clean: true });
    assert.deepEqual(await target.tableCounts(), content.tables);
  });

  test('the restore test passes, also through a source without jobs, and leaves nothing behind', async () => {
    const scratchDir = join(work, 'scratch');
    for (const source of [jobsSource(), new PostgresSource(`${SERVER}/${SOURCE_DB}`)]) {
      const name = `${SOURCE_DB}_scr`;
      databases.push(name);
      const result = await source.restoreTest(createReadStream(tarFile), content, { name, dir: scratchDir });
      assert.equal(result.ok, true, JSON.stringify(result.checks.filter((c) => !c.ok)));
      assert.equal(result.checks.length, 1 + content.tables.length);
      assert.equal(await databaseExists(name), false);
      assert.deepEqual(await readdir(scratchDir), []);
    }
  });

  test('a truncated tar is restore-failed, a failed check and a failed structure check', async () => {
    const size = (await stat(tarFile)).size;
    const cut = join(work, 'cut.tar');
    const handle = await open(tarFile, 'r');
    const head = Buffer.alloc(Math.floor(size / 2));
    await handle.read(head, 0, head.length, 0);
    await handle.close();
    await writeFile(cut, head);
    const name = `${SOURCE_DB}_cut`;
    databases.push(name);
    await assert.rejects(
      jobsSource(`${SERVER}/${name}`).restore(createReadStream(cut), { clean: false }),
      sourceError('restore-failed', /^the tar is damaged: the archive is cut short in /),
    );
    const scratch = `${SOURCE_DB}_scr_cut`;
    const result = await jobsSource().restoreTest(createReadStream(cut), content, {
      name: scratch,
      dir: work,
    });
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.checks.map((c) => c.name),
      ['archive'],
    );
    assert.equal(await databaseExists(scratch), false);
    const structure = await jobsSource().checkStructure(createReadStream(cut));
    assert.equal(structure.ok, false);
    assert.match(structure.detail ?? '', /cut short/);
  });

  test('a damaged header and a missing data file are caught', async () => {
    const damaged = join(work, 'damaged.tar');
    const bytes = Buffer.from(await (await open(tarFile, 'r')).readFile());
    bytes[10] = 0x41; // inside the first member's name: the header checksum no longer matches
    await writeFile(damaged, bytes);
    const bad = await jobsSource().checkStructure(createReadStream(damaged));
    assert.deepEqual([bad.ok, bad.detail], [false, 'the tar is damaged: a tar header has a bad checksum']);

    const dataFile = members.find((m) => /^\d+\.dat$/.test(m)) ?? '';
    const partial = join(work, 'partial.tar');
    await tarWithout(dataFile, partial);
    const lacking = await jobsSource().checkStructure(createReadStream(partial));
    assert.deepEqual([lacking.ok, lacking.detail], [false, `the tar lacks ${dataFile}`]);
    const name = `${SOURCE_DB}_partial`;
    databases.push(name);
    await assert.rejects(
      jobsSource(`${SERVER}/${name}`).restore(createReadStream(partial), { clean: false }),
      sourceError('restore-failed', /pg_restore: error: could not open input file/),
    );
  });

  test('abort stops pg_dump and its workers, releases the snapshot and removes the directory', async () => {
    const workDir = join(work, 'abort-work');
    await mkdir(workDir);
    const handle = await jobsSource().dump({ backupId: 'b', workDir });
    const first = await new Promise<Buffer>((resolve) => handle.stdout.once('data', resolve));
    assert.ok(first.length > 0);
    handle.abort();
    await assert.rejects(handle.finished, sourceError('dump-failed', 'pg_dump was aborted'));
    let sessions = -1;
    for (let i = 0; i < 100 && sessions !== 0; i++) {
      const { rows } = await withClient('postgres', (c) =>
        c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tidemark'",
          [SOURCE_DB],
        ),
      );
      sessions = rows[0]?.n ?? -1;
      if (sessions !== 0) await sleep(20);
    }
    assert.equal(sessions, 0);
    for (let i = 0; i < 100 && (await readdir(workDir)).length > 0; i++) await sleep(20);
    assert.deepEqual(await readdir(workDir), []);
  });

  test('a failing pg_dump rejects with its error line even after long verbose output', async () => {
    const binDir = await mkdtemp(join(work, 'bin-'));
    const noise = 'pg_dump: reading table data for some rather long table name to fill the log\\n';
    await writeFile(
      join(binDir, 'pg_dump'),
      '#!/bin/sh\nif [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) 15.20"; exit 0; fi\n' +
        `i=0; while [ $i -lt 1500 ]; do printf '${noise}' >&2; i=$((i+1)); done\n` +
        'echo "pg_dump: error: query failed: ERROR:  permission denied for table big" >&2; exit 1\n',
    );
    await chmod(join(binDir, 'pg_dump'), 0o755);
    const workDir = join(work, 'fail-work');
    await mkdir(workDir);
    const handle = await jobsSource(undefined, { binDir }).dump({ backupId: 'b', workDir });
    const expected = sourceError(
      'dump-failed',
      'pg_dump: error: query failed: ERROR: permission denied for table big',
    );
    await assert.rejects(
      pipeline(
        handle.stdout,
        new Writable({
          write: (_c, _e, done) => {
            done();
          },
        }),
      ),
      expected,
    );
    await assert.rejects(handle.finished, expected);
  });

  test('a custom archive still restores through a jobs source', async () => {
    const name = `${SOURCE_DB}_custom`;
    databases.push(name);
    const custom = new PostgresSource(`${SERVER}/${SOURCE_DB}`);
    const handle = await custom.dump();
    const chunks: Buffer[] = [];
    await Promise.all([
      pipeline(
        handle.stdout,
        new Writable({
          write: (c: Buffer, _e, done) => {
            chunks.push(c);
            done();
          },
        }),
      ),
      handle.finished,
    ]);
    const target = jobsSource(`${SERVER}/${name}`);
    await target.restore(Readable.from(chunks), { clean: false });
    assert.deepEqual(await target.tableCounts(), (await handle.content).tables);
  });
});
