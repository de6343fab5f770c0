import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TableCount } from '@tidemark/manifest';
import { uniqueName } from '@tidemark/testing';
import { type SourceTarget, type SourceOptions } from '@tidemark/source-contract';
import { sqliteKind } from './kind';
import { counted, sourceError } from '@tidemark/testing-sources';
import { parseSqliteLocation } from './location';
import { SqliteSource } from './sqlite-source';

const createSource = (target: SourceTarget, options: SourceOptions = {}) =>
  sqliteKind.create(target, options);

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'tidemark-sqlite-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

async function newDir(prefix: string): Promise<string> {
  const dir = join(root, uniqueName(prefix));
  await mkdir(dir);
  return dir;
}

const SEED = `
  CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, avatar BLOB, score REAL);
  CREATE INDEX customers_by_name ON customers (name);
  CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id), total REAL, note TEXT);
  CREATE INDEX orders_by_customer ON orders (customer_id);
  CREATE TABLE events (id INTEGER PRIMARY KEY, payload BLOB);
  CREATE TABLE "Audit ""Log""" (id INTEGER PRIMARY KEY, what TEXT);
  CREATE TABLE empty_table (x INTEGER);
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
  CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 500;
  WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 4000)
    INSERT INTO customers (name, avatar, score) SELECT 'customer ' || n, randomblob(300 + n % 700), n / 7.0 FROM g;
  WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 30000)
    INSERT INTO orders (customer_id, total, note) SELECT 1 + n % 4000, (n % 1000) + 0.25, hex(randomblob(40)) FROM g;
  WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2000)
    INSERT INTO events (payload) SELECT randomblob(200) FROM g;
  WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 500)
    INSERT INTO "Audit ""Log""" (what) SELECT 'did ' || n FROM g;
  INSERT INTO settings VALUES ('b', 'two'), ('a', 'one'), ('c', NULL);`;

const TABLE_NAMES = ['Audit "Log"', 'customers', 'empty_table', 'events', 'orders', 'settings'];
/** Tables the writer never touches: their whole content must come back unchanged. */
const STILL_TABLES = ['Audit "Log"', 'customers', 'empty_table', 'settings'];

function seed(path: string, journalMode: 'wal' | 'delete'): void {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA journal_mode = ${journalMode};`);
  db.exec(SEED);
  db.close();
}

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** sha256 over every row of a table in key order, blobs included, optionally only up to some rowid. */
function tableHash(db: DatabaseSync, table: string, maxId?: number): string {
  const order = table === 'settings' ? 'key' : 'rowid';
  const where = maxId === undefined ? '' : ` WHERE rowid <= ${maxId}`;
  const hash = createHash('sha256');
  for (const row of db.prepare(`SELECT * FROM ${quote(table)}${where} ORDER BY ${order}`).iterate()) {
    hash.update(
      JSON.stringify(row, (_key, value: unknown) =>
        value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value,
      ),
    );
  }
  return hash.digest('hex');
}

function schemaOf(db: DatabaseSync): unknown[] {
  return db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name').all();
}

function withDb<T>(path: string, work: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/**
 * A separate process that appends to orders and events in small transactions, `pauseMs` apart, until it is told to
 * stop.
 */
const WRITER = `
  const { DatabaseSync } = require('node:sqlite');
  const db = new DatabaseSync(process.argv[1], { timeout: 20000 });
  const order = db.prepare("INSERT INTO orders (customer_id, total, note) VALUES (?, 9.5, 'late')");
  const event = db.prepare('INSERT INTO events (payload) VALUES (randomblob(100))');
  const pauseMs = Number(process.argv[2]);
  let batches = 0;
  let stop = false;
  process.on('SIGTERM', () => { stop = true; });
  (async () => {
    while (!stop) {
      db.exec('BEGIN IMMEDIATE');
      for (let i = 0; i < 10; i++) order.run(1 + i);
      event.run();
      db.exec('COMMIT');
      batches++;
      process.stdout.write(batches + '\\n');
      // A pause of 0 commits back to back (setImmediate only lets SIGTERM in).
      await new Promise((resolve) => (pauseMs > 0 ? setTimeout(resolve, pauseMs) : setImmediate(resolve)));
    }
    db.close();
    process.stdout.write('done ' + batches + '\\n');
  })().catch((err) => { process.stderr.write(String(err && err.message) + '\\n'); process.exit(1); });`;

interface Writer {
  batches(): number;
  /** Longest gap between two commits seen so far, in ms. */
  maxGapMs(): number;
  stop(): Promise<{ code: number | null; stderr: string }>;
}

function startWriter(path: string, pauseMs: number): Writer {
  const child: ChildProcess = spawn(process.execPath, ['-e', WRITER, path, String(pauseMs)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let batches = 0;
  let last = 0;
  let maxGap = 0;
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    const now = performance.now();
    const lines = text.trim().split('\n');
    const value = Number(lines.at(-1));
    if (Number.isFinite(value)) batches = value;
    if (last > 0) maxGap = Math.max(maxGap, now - last);
    last = now;
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    batches: () => batches,
    maxGapMs: () => maxGap,
    stop: async () => {
      child.kill('SIGTERM');
      return { code: await exited, stderr };
    },
  };
}

describe('location', () => {
  test('plain paths, sqlite:/// and file:/// URLs name an absolute file', () => {
    assert.equal(parseSqliteLocation('/data/app.db'), '/data/app.db');
    assert.equal(parseSqliteLocation('data/app.db', '/srv'), '/srv/data/app.db');
    assert.equal(parseSqliteLocation('./app.db', '/srv'), '/srv/app.db');
    assert.equal(parseSqliteLocation('sqlite:///data/my%20app.db'), '/data/my app.db');
    assert.equal(parseSqliteLocation('file:///data/app.db'), '/data/app.db');
    assert.equal(parseSqliteLocation('file://localhost/data/app.db'), '/data/app.db');
    assert.equal(new SqliteSource('app.db', { cwd: '/var/lib' }).path, '/var/lib/app.db');
  });

  test('anything else is invalid-url', () => {
    const cases: [string, RegExp][] = [
      ['', /expected a file path/],
      ['postgres://u@h/db', /^invalid SQLite location "postgres:\/\/u@h\/db": expected a file path/],
      ['sqlite://data/app.db', /must be absolute \(three slashes/],
      ['sqlite:///data/app.db?mode=ro', /query strings/],
      ['file:///data/', /names a directory/],
      [':memory:', /in-memory/],
      ['https://example.com/app.db', /expected a file path/],
    ];
    for (const [url, message] of cases) {
      assert.throws(() => createSource({ kind: 'sqlite', url }), sourceError('invalid-url', message), url);
    }
  });
});

describe('preCheck', () => {
  test('reports the library version, the tool and the size with the WAL', async () => {
    const dir = await newDir('pre');
    const path = join(dir, 'app.db');
    seed(path, 'wal');
    // An open connection that never checkpoints keeps its commits in the WAL.
    const writer = new DatabaseSync(path);
    writer.exec('PRAGMA wal_autocheckpoint = 0; INSERT INTO events (payload) SELECT payload FROM events;');
    try {
      const wal = (await stat(`${path}-wal`)).size;
      assert.ok(wal > 100_000, `wal ${wal}`);
      const info = await createSource({ kind: 'sqlite', url: `sqlite://${path}` }).preCheck();
      const version = withDb(path, (db) => String(db.prepare('SELECT sqlite_version() AS v').get()?.v));
      assert.deepEqual(info, {
        kind: 'sqlite',
        database: path,
        host: info.host,
        serverVersion: version,
        serverMajor: 3,
        dumpTool: `node:sqlite ${version}`,
        estimatedBytes: (await stat(path)).size + wal,
      });
      assert.ok(info.host.length > 0);
    } finally {
      writer.close();
    }
  });

  test('a missing file is source-missing-database, also for dump and tableCounts', async () => {
    const path = join(root, 'nowhere', 'missing.db');
    const source = new SqliteSource(path);
    const expected = sourceError('source-missing-database', `SQLite database ${path} does not exist`);
    await assert.rejects(source.preCheck(), expected);
    await assert.rejects(source.dump({ backupId: 'x', workDir: root }), expected);
    await assert.rejects(source.tableCounts(), expected);
  });

  test('a file that is not an SQLite database is refused clearly', async () => {
    const dir = await newDir('notdb');
    const path = join(dir, 'notes.db');
    await writeFile(path, 'just some text, long enough to hold a header if it were one. '.repeat(10));
    const source = new SqliteSource(path);
    const expected = sourceError(
      'source-unreachable',
      `${path} is not an SQLite database (no "SQLite format 3" header)`,
    );
    await assert.rejects(source.preCheck(), expected);
    await assert.rejects(source.dump({ backupId: 'x', workDir: dir }), expected);
    await assert.rejects(
      new SqliteSource(dir).preCheck(),
      sourceError('source-unreachable', `${dir} is not a file`),
    );
  });
});

for (const journalMode of ['wal', 'delete'] as const) {
  describe(`dump and restore (${journalMode} journal)`, () => {
    let dir: string;
    let sourcePath: string;
    let artifact: string;
    let dumped: TableCount[];
    let restoredPath: string;

    before(async () => {
      dir = await newDir(journalMode);
      sourcePath = join(dir, 'live.db');
      artifact = join(dir, 'dump.sqlite');
      restoredPath = join(dir, 'restored', 'copy.db');
      seed(sourcePath, journalMode);
    });

    test('a separate process keeps writing while the copy is taken; the restore equals the copy', async () => {
      // One page per step stretches the backup over many steps, so commits land while it runs.
      const source = new SqliteSource(sourcePath, { snapshot: { pagesPerStep: 1 } });
      const workDir = await newDir('work');
      // WAL: commits back to back; a backup that restarted on every commit would never finish. A rollback journal
      // cannot be read while a writer commits, so there the writer pauses like a real application between commits.
      const writer = startWriter(sourcePath, journalMode === 'wal' ? 0 : 1);
      try {
        while (writer.batches() < 20) await sleep(5);
        const atStart = writer.batches();
        const started = performance.now();
        const handle = await source.dump({ backupId: '20260101T000000Z-abcdef', workDir });
        const copied = handle.content.then(() => performance.now());
        const deadline = new AbortController();
        await Promise.race([
          Promise.all([pipeline(handle.stdout, createWriteStream(artifact)), handle.finished]),
          sleep(20_000, undefined, { signal: deadline.signal }).then(() => {
            handle.abort();
            throw new Error('the dump did not finish within 20 s while the writer was active');
          }),
        ]).finally(() => {
          deadline.abort();
        });
        dumped = (await handle.content).tables;
        const copyMs = (await copied) - started;
        const afterDump = writer.batches();
        // The writer is not starved afterwards either: it goes on committing.
        while (writer.batches() < afterDump + 20) await sleep(5);
        console.log(
          `# ${journalMode}: copy of ${(await stat(artifact)).size} bytes took ${copyMs.toFixed(0)} ms, ` +
            `writer batches ${atStart} -> ${afterDump}, longest writer stall ${writer.maxGapMs().toFixed(0)} ms`,
        );
        assert.ok(afterDump > atStart, 'the writer committed while the dump ran');
        assert.deepEqual(await readdir(workDir), [], 'the private copy is removed once streamed');
      } finally {
        const exit = await writer.stop();
        assert.equal(exit.code, 0, exit.stderr);
      }

      assert.deepEqual(
        dumped.map((t) => t.name),
        TABLE_NAMES,
      );
      assert.ok(dumped.every((t) => t.schema === 'main'));
      const orders = (counts: TableCount[]): number => counts.find((t) => t.name === 'orders')?.rows ?? -1;
      assert.ok(orders(dumped) > 30_000, 'rows written before the dump are in it');
      const now = await source.tableCounts();
      assert.ok(orders(now) > orders(dumped), 'the source moved on after the snapshot');

      const target = new SqliteSource(restoredPath);
      await target.restore(createReadStream(artifact), { clean: false });
      assert.deepEqual(await readdir(join(dir, 'restored')), ['copy.db'], 'no temp file is left');
      assert.equal((await stat(restoredPath)).mode & 0o777, 0o600);
      assert.deepEqual(await target.tableCounts(), dumped);

      const src = new DatabaseSync(sourcePath, { readOnly: true });
      try {
        withDb(restoredPath, (restored) => {
          assert.deepEqual(schemaOf(restored), schemaOf(src), 'tables, indexes and the view come back');
          assert.equal(
            String(restored.prepare('PRAGMA journal_mode').get()?.journal_mode),
            journalMode,
            'the journal mode is kept',
          );
          for (const table of STILL_TABLES)
            assert.equal(tableHash(restored, table), tableHash(src, table), `content of ${table}`);
          // The writer only appends: the snapshot is exactly the source's rows up to the last id it holds.
          for (const table of ['orders', 'events']) {
            const maxId = Number(restored.prepare(`SELECT max(id) AS m FROM ${table}`).get()?.m);
            const rows = dumped.find((t) => t.name === table)?.rows;
            assert.equal(maxId, rows, `${table} ids are dense`);
            assert.equal(tableHash(restored, table), tableHash(src, table, maxId), `content of ${table}`);
          }
          assert.equal(
            restored.prepare('SELECT count(*) AS n FROM big_orders').get()?.n,
            src.prepare(`SELECT count(*) AS n FROM big_orders WHERE id <= ${orders(dumped)}`).get()?.n,
          );
        });
      } finally {
        src.close();
      }
    });

    test('checkStructure counts the pages and reads every byte', async () => {
      const source = new SqliteSource(sourcePath);
      const input = counted(createReadStream(artifact));
      const result = await source.checkStructure(input.stream);
      const size = (await stat(artifact)).size;
      const pages = withDb(artifact, (db) => Number(db.prepare('PRAGMA page_count').get()?.page_count));
      assert.deepEqual(result, { ok: true, tool: 'sqlite header', entries: pages });
      assert.equal(input.bytes(), size);
    });

    test('restoreTest passes with the dumped counts and removes its scratch file', async () => {
      const scratchDir = await newDir('scratch');
      const source = new SqliteSource(sourcePath);
      const result = await source.restoreTest(
        createReadStream(artifact),
        { tables: dumped },
        {
          name: 'tm-scratch',
          dir: scratchDir,
        },
      );
      assert.equal(result.ok, true, JSON.stringify(result.checks));
      assert.equal(result.scratch, join(scratchDir, 'tm-scratch.sqlite'));
      assert.ok(result.durationMs > 0);
      assert.deepEqual(result.checks.slice(0, 2), [
        { name: 'integrity_check', ok: true, expected: 'ok', actual: 'ok' },
        { name: 'tables', ok: true, expected: 6, actual: 6 },
      ]);
      assert.deepEqual(
        result.checks.find((c) => c.name === 'rows main.customers'),
        { name: 'rows main.customers', ok: true, expected: 4000, actual: 4000 },
      );
      assert.equal(result.checks.length, 8);
      assert.deepEqual(await readdir(scratchDir), []);
    });
  });
}

describe('failures', () => {
  let dir: string;
  let sourcePath: string;
  let artifact: string;
  let counts: TableCount[];

  before(async () => {
    dir = await newDir('fail');
    sourcePath = join(dir, 'live.db');
    artifact = join(dir, 'dump.sqlite');
    seed(sourcePath, 'wal');
    const handle = await new SqliteSource(sourcePath).dump({ backupId: 'b', workDir: dir });
    await Promise.all([pipeline(handle.stdout, createWriteStream(artifact)), handle.finished]);
    counts = (await handle.content).tables;
  });

  /** A copy of the artifact with one page in the middle overwritten: the length (and header) stay right. */
  async function corrupted(): Promise<string> {
    const path = join(dir, uniqueName('corrupt'));
    await copyFile(artifact, path);
    const { size } = await stat(path);
    const pageSize = 4096;
    const file = await open(path, 'r+');
    await file.write(Buffer.alloc(pageSize, 0x5a), 0, pageSize, Math.floor(size / pageSize / 2) * pageSize);
    await file.close();
    return path;
  }

  test('a page overwritten in the middle passes the header check but fails integrity_check', async () => {
    const bad = await corrupted();
    const source = new SqliteSource(sourcePath);
    const structure = await source.checkStructure(createReadStream(bad));
    assert.equal(structure.ok, true, 'the length still matches the header');
    const scratchDir = await newDir('scratch');
    const result = await source.restoreTest(
      createReadStream(bad),
      { tables: counts },
      {
        name: 'bad',
        dir: scratchDir,
      },
    );
    assert.equal(result.ok, false);
    const [check, ...others] = result.checks;
    assert.deepEqual(others, []);
    assert.equal(check?.name, 'integrity_check');
    assert.equal(check.ok, false);
    assert.match(check.detail ?? '', /page|malformed|btree|Tree/i);
    assert.deepEqual(await readdir(scratchDir), []);

    const destination = join(dir, uniqueName('dest'), 'app.db');
    await assert.rejects(
      new SqliteSource(destination).restore(createReadStream(bad), { clean: false }),
      sourceError(
        'restore-failed',
        new RegExp(`^the restored copy for ${destination} fails integrity_check: `),
      ),
    );
    assert.deepEqual(await readdir(join(destination, '..')), [], 'no destination and no temp file');
  });

  test('a damaged header or a truncated artifact fails checkStructure, still read to its end', async () => {
    const source = new SqliteSource(sourcePath);
    const full = await readFile(artifact);
    const half = full.subarray(0, Math.floor(full.length / 2) + 100);
    const truncated = counted(Readable.from([half]));
    const result = await source.checkStructure(truncated.stream);
    assert.equal(result.ok, false);
    assert.match(result.detail ?? '', /^truncated: \d+ bytes, but the header says \d+ pages of 4096 bytes/);
    assert.equal(truncated.bytes(), half.length);

    const garbage = counted(Readable.from([Buffer.alloc(1 << 20, 7), Buffer.alloc(1 << 20, 8)]));
    const junk = await source.checkStructure(garbage.stream);
    assert.deepEqual(junk, {
      ok: false,
      tool: 'sqlite header',
      entries: 0,
      detail: 'not an SQLite database (no "SQLite format 3" header)',
    });
    assert.equal(garbage.bytes(), 2 << 20);
  });

  test('restoreTest of garbage is a failed integrity_check, not a throw', async () => {
    const scratchDir = await newDir('scratch');
    const result = await new SqliteSource(sourcePath).restoreTest(
      Readable.from([Buffer.alloc(50_000, 1)]),
      { tables: counts },
      { name: 'junk', dir: scratchDir },
    );
    assert.equal(result.ok, false);
    assert.deepEqual(result.checks, [
      { name: 'integrity_check', ok: false, detail: 'not an SQLite database (no "SQLite format 3" header)' },
    ]);
    assert.deepEqual(await readdir(scratchDir), []);
  });

  test('wrong expected counts fail those checks only; a leftover scratch file is replaced', async () => {
    const scratchDir = await newDir('scratch');
    await writeFile(join(scratchDir, 'again.sqlite'), 'left over by a crashed attempt');
    await writeFile(join(scratchDir, 'again.sqlite-wal'), 'stale');
    const expected = counts.map((t) => (t.name === 'customers' ? { ...t, rows: t.rows + 1 } : t));
    expected.push({ schema: 'main', name: 'ghost', rows: 0 });
    const result = await new SqliteSource(sourcePath).restoreTest(
      createReadStream(artifact),
      { tables: expected },
      {
        name: 'again',
        dir: scratchDir,
      },
    );
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.checks.filter((c) => !c.ok),
      [
        { name: 'tables', ok: false, expected: 7, actual: 6, detail: 'missing main.ghost' },
        { name: 'rows main.customers', ok: false, expected: 4001, actual: 4000 },
        { name: 'rows main.ghost', ok: false, expected: 0, detail: 'table missing after restore' },
      ],
    );
    assert.deepEqual(await readdir(scratchDir), []);
  });

  test('restoring onto an existing file needs clean, and leaves the file untouched without it', async () => {
    const target = join(await newDir('existing'), 'app.db');
    seed(target, 'wal');
    // Keep the old database's last commit in its WAL, to put that WAL back as a stale leftover later.
    const old = new DatabaseSync(target);
    old.exec('PRAGMA wal_autocheckpoint = 0; DELETE FROM orders WHERE id % 2 = 0;');
    const staleWal = await readFile(`${target}-wal`);
    old.close();
    const before = await fileHash(target);
    const source = new SqliteSource(target);
    await assert.rejects(
      source.restore(createReadStream(artifact), { clean: false }),
      sourceError('target-not-empty', `${target} already exists; pass --clean to replace it`),
    );
    assert.equal(await fileHash(target), before);

    // The stale WAL belongs to the old file: replayed into the restored one it would bring the old rows back.
    await writeFile(`${target}-wal`, staleWal);
    await source.restore(createReadStream(artifact), { clean: true });
    assert.equal(await fileHash(target), await fileHash(artifact));
    assert.deepEqual(await source.tableCounts(), counts);

    const orphan = join(await newDir('orphan'), 'app.db');
    await writeFile(`${orphan}-journal`, 'hot journal of a deleted database');
    await assert.rejects(
      new SqliteSource(orphan).restore(createReadStream(artifact), { clean: false }),
      sourceError('target-not-empty', `${orphan}-journal already exists; pass --clean to replace it`),
    );
  });

  test('a truncated or failing stream leaves no destination file', async () => {
    const destDir = await newDir('trunc');
    const destination = join(destDir, 'app.db');
    const full = await readFile(artifact);
    await assert.rejects(
      new SqliteSource(destination).restore(Readable.from([full.subarray(0, full.length - 4096)]), {
        clean: false,
      }),
      sourceError(
        'restore-failed',
        new RegExp(`^the backup for ${destination} is not a complete SQLite database: truncated: `),
      ),
    );
    assert.deepEqual(await readdir(destDir), []);

    // The first 100 kB arrive, then the source of the stream fails.
    const failing = Readable.from(
      (async function* () {
        yield full.subarray(0, 100_000);
        await sleep(5);
        throw new Error('download interrupted');
      })(),
    );
    await assert.rejects(
      new SqliteSource(destination).restore(failing, { clean: true }),
      /download interrupted/,
    );
    assert.deepEqual(await readdir(destDir), []);
  });

  test('abort stops the copy and removes it', async () => {
    const workDir = await newDir('abort');
    const source = new SqliteSource(sourcePath, { snapshot: { pagesPerStep: 1 } });
    const handle = await source.dump({ backupId: 'aborted', workDir });
    await sleep(30);
    handle.abort();
    await assert.rejects(
      handle.finished,
      sourceError('dump-failed', `the copy of ${sourcePath} was aborted`),
    );
    await assert.rejects(handle.content, sourceError('dump-failed'));
    assert.deepEqual(await readdir(workDir), []);
  });

  test('a consumer that stops reading fails the dump and the copy is removed', async () => {
    const workDir = await newDir('consumer');
    const handle = await new SqliteSource(sourcePath).dump({ backupId: 'broken', workDir });
    let seen = 0;
    const failing = new Writable({
      write(chunk: Buffer, _encoding, done) {
        seen += chunk.length;
        done(seen > 200_000 ? new Error('disk full') : null);
      },
    });
    await assert.rejects(pipeline(handle.stdout, failing), /disk full/);
    await assert.rejects(handle.finished, sourceError('dump-failed', /^streaming the copy of .* failed/));
    assert.deepEqual(await readdir(workDir), []);
  });

  test('a corrupt live database is dump-failed with the first problem integrity_check reports', async () => {
    const workDir = await newDir('corrupt-src');
    const path = join(workDir, 'broken.db');
    await copyFile(await corrupted(), path);
    const handle = await new SqliteSource(path).dump({ backupId: 'corrupt', workDir });
    const expected = sourceError(
      'dump-failed',
      new RegExp(`^the copy of ${path} fails integrity_check: \\S`),
    );
    // The stream fails with the same error, so a consumer never takes a short stream for a whole one.
    await assert.rejects(pipeline(handle.stdout, createWriteStream('/dev/null')), expected);
    await assert.rejects(handle.finished, expected);
    await assert.rejects(handle.content, sourceError('dump-failed'));
    const left = await readdir(workDir);
    assert.deepEqual(
      left.filter((name) => name.includes('.sqlite-copy')),
      [],
      'the copy is removed',
    );
  });

  test('an empty (zero-byte) database is backed up as an empty database', async () => {
    const emptyDir = await newDir('empty');
    const path = join(emptyDir, 'empty.db');
    await writeFile(path, '');
    const source = new SqliteSource(path);
    assert.equal((await source.preCheck()).estimatedBytes, 0);
    const handle = await source.dump({ backupId: 'empty', workDir: emptyDir });
    const out = join(emptyDir, 'empty.sqlite');
    await Promise.all([pipeline(handle.stdout, createWriteStream(out)), handle.finished]);
    assert.deepEqual(await handle.content, { tables: [] });
    assert.equal((await source.checkStructure(createReadStream(out))).ok, true);
  });
});
