import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TableCount } from '@tidemark/manifest';
import { freePort, uniqueName } from '@tidemark/testing';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { type SourceOptions, type SourceTarget } from '@tidemark/source-contract';
import { mysqlKind } from './kind';
import { counted, scriptDir, slowDumpToFile, sourceError } from '@tidemark/testing-sources';
import { MysqlSource } from './mysql-source';

const createSource = (target: SourceTarget, options: SourceOptions = {}) => mysqlKind.create(target, options);

const SERVER = 'mysql://root@127.0.0.1:3306';
const REAL_BIN = '/usr/bin';
const SOURCE_DB = uniqueName('tmsrc');
const RESTORED_DB = uniqueName('tmrst');
const USER = uniqueName('tmuser');
// Every character the option file has to carry through quoting and escaping.
const PASSWORD = `s3cret "q" \\b# ;'x=1 \t ü ${randomBytes(3).toString('hex')}`;
const created: string[] = [SOURCE_DB, RESTORED_DB];
const WEIRD = 'we`ird (tab) ü';

let admin: Connection;
let workDir: string;
let dumpFile: string;
let dumpedCounts: TableCount[];

const source = (database: string, options: SourceOptions = {}): MysqlSource =>
  new MysqlSource(`${SERVER}/${database}`, options);

const db = (database?: string): Promise<Connection> =>
  createConnection({
    host: '127.0.0.1',
    port: 3306,
    user: 'root',
    ...(database ? { database } : {}),
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });

async function rows(connection: Connection, sql: string, params: unknown[] = []): Promise<RowDataPacket[]> {
  const [result] = await connection.query<RowDataPacket[]>(sql, params);
  return result;
}

async function databaseExists(name: string): Promise<boolean> {
  return (
    (await rows(admin, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name])).length ===
    1
  );
}

/** Staging and replaced databases a restore of `database` left behind. */
async function restoreLeftovers(database: string): Promise<string[]> {
  return (
    await rows(
      admin,
      "SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (CONCAT('tidemark_restore_', ?), CONCAT('tidemark_replaced_', ?))",
      [database, database],
    )
  ).map((row) => String(row['n']));
}

/** The first `bytes` of the dump, or the dump up to (not including) `marker`. */
async function truncated(name: string, cut: number | string): Promise<string> {
  const full = await readFile(dumpFile);
  const at = typeof cut === 'number' ? cut : full.indexOf(cut);
  assert.ok(at > 0, `cut point ${String(cut)}`);
  const path = join(workDir, name);
  await writeFile(path, full.subarray(0, at));
  return path;
}

/** sha256 over the rows in the order of the first column (optionally only up to id `maxId`). */
async function rowsHash(connection: Connection, table: string, maxId?: number): Promise<string> {
  const where = maxId === undefined ? '' : `WHERE id <= ${maxId}`;
  const all = await rows(connection, `SELECT * FROM ${table} ${where} ORDER BY 1`);
  return createHash('sha256').update(JSON.stringify(all)).digest('hex');
}

async function checksum(connection: Connection, table: string): Promise<string> {
  const [row] = await rows(connection, `CHECKSUM TABLE ${table}`);
  return String(row?.['Checksum']);
}

const TRICKY: unknown[][] = [
  [1, "it's", Buffer.from([0, 1, 2, 39, 40, 41, 44, 59, 92, 255]), '{"a": "),("}', 1.5],
  [2, "back\\slash \\\\ \\' double", Buffer.alloc(0), null, -2.25],
  [3, "(a),(b);\n),('x'", randomBytes(70_000), '["\\u0000"]', null],
  [4, '-- not a comment\n/* nor this */ # nor this', null, null, 1e300],
  [5, 'DELIMITER ;;\nINSERT INTO `audit` VALUES (1),(2);\n', Buffer.from("'),('"), null, 0],
  [6, '', Buffer.from([...Array(256).keys()]), '{}', null],
  [7, null, null, null, null],
  [8, 'emoji 📦 ü \t tab \r\n crlf \0 nul \x1a sub "dq" `bt`', Buffer.from('0x00FF'), null, null],
  [9, `${'),('.repeat(50_000)}'\\`, null, null, null],
];

const SEED = [
  'CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT)',
  `CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(12,2),
     placed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
  'CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL)',
  'CREATE TABLE tricky (id INT PRIMARY KEY, s LONGTEXT, b LONGBLOB, j JSON, d DOUBLE)',
  'CREATE TABLE empty_table (x INT)',
  'CREATE TABLE `we``ird (tab) ü` (id INT PRIMARY KEY, v VARCHAR(20))',
  'CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 500',
  'CREATE SEQUENCE invoice_no START WITH 1000',
  `CREATE TRIGGER customers_audit AFTER INSERT ON customers FOR EACH ROW
     INSERT INTO audit (customer_id) VALUES (NEW.id)`,
  `CREATE PROCEDURE add_audit(IN n INT)
   BEGIN
     INSERT INTO audit (customer_id) VALUES (n), (n + 1);
     SELECT ';' AS semi;
   END`,
  'CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2',
  'CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM audit WHERE customer_id < 0',
  "INSERT INTO customers (name, note) SELECT CONCAT('customer ', seq), REPEAT('n', seq % 50) FROM seq_1_to_5000",
  'INSERT INTO orders (customer_id, total) SELECT 1 + seq % 5000, (seq % 1000) + 0.25 FROM seq_1_to_20000',
  "INSERT INTO `we``ird (tab) ü` VALUES (1, 'a'), (2, 'b'), (3, '),(')",
];

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'tidemark-mysql-spec-'));
  dumpFile = join(workDir, 'dump.sql');
  admin = await db();
  await admin.query(`CREATE DATABASE ${SOURCE_DB}`);
  const seed = await db(SOURCE_DB);
  for (const sql of SEED) await seed.query(sql);
  for (const row of TRICKY) await seed.query('INSERT INTO tricky VALUES (?, ?, ?, ?, ?)', row);
  await seed.end();
  await admin.query(`CREATE USER '${USER}'@'%' IDENTIFIED BY ?`, [PASSWORD]);
  await admin.query(`GRANT ALL ON \`${SOURCE_DB}\`.* TO '${USER}'@'%'`);
  // MariaDB before 11.3 shows routine bodies only to their definer or to readers of mysql.proc.
  await admin.query(`GRANT SELECT ON mysql.proc TO '${USER}'@'%'`);
  // Restoring views, triggers and routines whose DEFINER is another account (root here) needs SET USER.
  await admin.query(`GRANT SET USER ON *.* TO '${USER}'@'%'`);
});

after(async () => {
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await admin.query(`DROP USER IF EXISTS '${USER}'@'%'`);
  await admin.end();
  await rm(workDir, { recursive: true, force: true });
});

describe('createSource', () => {
  test('builds a MySQL source for kind mysql and refuses a URL without a database', () => {
    const made = createSource({ kind: 'mysql', url: `mariadb://root@127.0.0.1/${SOURCE_DB}` });
    assert.ok(made instanceof MysqlSource);
    assert.equal(made.format, 'mysqldump-sql');
    assert.equal(made.incremental, false);
    assert.throws(
      () => createSource({ kind: 'mysql', url: 'mysql://root:s3cret@127.0.0.1:3306' }),
      sourceError(
        'invalid-url',
        /^invalid MySQL URL "mysql:\/\/root:\*\*\*@127\.0\.0\.1:3306": it names no database/,
      ),
    );
  });
});

describe('preCheck', () => {
  test('reports the server, the tool and the size', async () => {
    const info = await source(SOURCE_DB).preCheck();
    assert.equal(info.kind, 'mysql');
    assert.equal(info.database, SOURCE_DB);
    assert.equal(info.host, '127.0.0.1:3306');
    assert.equal(info.serverMajor, 10);
    assert.match(info.serverVersion, /^10\.\d+\.\d+-MariaDB$/);
    assert.match(info.dumpTool, /^mariadb-dump 10\.\d+\.\d+$/);
    assert.ok(info.estimatedBytes > 1_000_000, `size ${info.estimatedBytes}`);
  });

  test('a port with nothing listening is source-unreachable', async () => {
    const port = await freePort();
    const unreachable = new MysqlSource(`mysql://root:s3cret@127.0.0.1:${port}/x`);
    const expected = `cannot reach MySQL at 127.0.0.1:${port}: connection refused`;
    await assert.rejects(unreachable.preCheck(), sourceError('source-unreachable', expected));
    await assert.rejects(unreachable.dump(), sourceError('source-unreachable', expected));
    await assert.rejects(unreachable.tableCounts(), sourceError('source-unreachable', expected));
  });

  test('a wrong password is source-auth and no message shows it', async () => {
    const wrong = `${PASSWORD}-wrong`;
    const url = `mariadb://${USER}:${encodeURIComponent(wrong)}@127.0.0.1:3306/${SOURCE_DB}`;
    for (const attempt of [() => new MysqlSource(url).preCheck(), () => new MysqlSource(url).dump()]) {
      await assert.rejects(attempt(), (err: unknown) => {
        sourceError(
          'source-auth',
          new RegExp(`^MariaDB at 127\\.0\\.0\\.1:3306 refused user "${USER}": Access denied`),
        )(err);
        assert.ok(err instanceof Error && !err.message.includes(wrong) && !err.message.includes(PASSWORD));
        return true;
      });
    }
  });

  test('a missing database is source-missing-database', async () => {
    const missing = uniqueName('tmnone');
    await assert.rejects(
      source(missing).preCheck(),
      sourceError('source-missing-database', `database "${missing}" does not exist on 127.0.0.1:3306`),
    );
  });

  test('a directory without the tools is tool-missing, also through TIDEMARK_MYSQL_BIN', async () => {
    const binDir = await mkdtemp(join(workDir, 'empty-'));
    const message = (tools: string): string =>
      `${tools} not found (looked in ${binDir}); install the MariaDB or MySQL client tools or set TIDEMARK_MYSQL_BIN`;
    await assert.rejects(
      source(SOURCE_DB, { binDir }).preCheck(),
      sourceError('tool-missing', message('mariadb-dump or mysqldump')),
    );
    const env = { ...process.env, TIDEMARK_MYSQL_BIN: binDir };
    await assert.rejects(
      source(SOURCE_DB, { env }).dump(),
      sourceError('tool-missing', message('mariadb-dump or mysqldump')),
    );
    await assert.rejects(
      source(RESTORED_DB, { binDir }).restore(Readable.from([]), { clean: false }),
      sourceError('tool-missing', message('mariadb or mysql')),
    );
    assert.equal(await databaseExists(RESTORED_DB), false, 'nothing was created before the tool was found');
  });
});

describe('dump and restore', () => {
  test('the dump counts match what it restores while another connection keeps inserting', async () => {
    const writer = await db(SOURCE_DB);
    const writes = { on: true };
    let batches = 0;
    const inserting = (async () => {
      while (writes.on) {
        await writer.query('INSERT INTO orders (customer_id, total) SELECT 1, 1 FROM seq_1_to_20');
        await writer.query("INSERT INTO customers (name) VALUES ('late')");
        batches++;
      }
    })();
    let batchesAtStart: number;
    try {
      while (batches < 5) await sleep(5); // writes are flowing before the dump starts
      const started = performance.now();
      const handle = await source(SOURCE_DB).dump();
      batchesAtStart = batches;
      // A slow consumer stretches the dump so that writes land while mariadb-dump is reading.
      await slowDumpToFile(handle, dumpFile, 15);
      dumpedCounts = (await handle.content).tables;
      const size = (await stat(dumpFile)).size;
      console.log(
        `# dump of ${SOURCE_DB}: ${size} bytes in ${(performance.now() - started).toFixed(0)} ms (slowed)`,
      );
      assert.ok(
        batches > batchesAtStart + 2,
        `rows were inserted while the dump ran (${batches - batchesAtStart})`,
      );
    } finally {
      writes.on = false;
      await inserting;
      await writer.end();
    }

    assert.deepEqual(
      dumpedCounts.map((t) => [t.schema, t.name]),
      ['audit', 'customers', 'empty_table', 'orders', 'tricky', WEIRD].map((name) => ['', name]),
    );
    const dumped = (name: string): number => dumpedCounts.find((t) => t.name === name)!.rows;
    assert.equal(dumped('tricky'), TRICKY.length);
    assert.equal(dumped('empty_table'), 0);
    assert.equal(dumped(WEIRD), 3);
    assert.ok(dumped('orders') >= 20_000 + 5 * 20, 'writes before the dump are in it');
    assert.equal(dumped('audit'), dumped('customers'), 'the trigger kept audit in step within the snapshot');
    const now = await source(SOURCE_DB).tableCounts();
    const current = (name: string): number => now.find((t) => t.name === name)!.rows;
    assert.ok(current('orders') > dumped('orders'), 'the source moved on after the snapshot');

    await source(RESTORED_DB).restore(createReadStream(dumpFile), { clean: false });
    assert.deepEqual(await source(RESTORED_DB).tableCounts(), dumpedCounts);

    const from = await db(SOURCE_DB);
    const to = await db(RESTORED_DB);
    try {
      // Tables nobody wrote to during the dump: identical contents.
      for (const table of ['tricky', 'empty_table', '`we``ird (tab) ü`']) {
        assert.equal(await checksum(to, table), await checksum(from, table), table);
        assert.equal(await rowsHash(to, table), await rowsHash(from, table), table);
      }
      assert.deepEqual(
        await rows(to, 'SELECT * FROM tricky ORDER BY id'),
        await rows(from, 'SELECT * FROM tricky ORDER BY id'),
      );
      // Tables written during the dump: the restored rows are exactly the source's rows up to the snapshot.
      for (const table of ['orders', 'customers', 'audit']) {
        const [max] = await rows(to, `SELECT MAX(id) AS id FROM ${table}`);
        const maxId = Number(max?.['id']);
        assert.equal(await rowsHash(to, table), await rowsHash(from, table, maxId), table);
      }
      // Views, triggers, routines, events and sequences came along and work.
      const objects = async (connection: Connection, database: string): Promise<string[]> =>
        (
          await rows(
            connection,
            `SELECT CONCAT('view ', TABLE_NAME) AS o FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
             UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
             UNION ALL SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
             UNION ALL SELECT CONCAT('event ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?
             UNION ALL SELECT CONCAT('sequence ', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'SEQUENCE'
             ORDER BY 1`,
            Array(5).fill(database),
          )
        ).map((row) => String(row['o']));
      const expectedObjects = [
        'event nightly',
        'function twice',
        'procedure add_audit',
        'sequence invoice_no',
        'trigger customers_audit',
        'view big_orders',
      ];
      assert.deepEqual(await objects(from, SOURCE_DB), expectedObjects);
      assert.deepEqual(await objects(to, RESTORED_DB), expectedObjects);
      assert.deepEqual(await rows(to, 'SELECT twice(21) AS v'), [{ v: 42 }]);
      const [viewCount] = await rows(to, 'SELECT COUNT(*) AS n FROM big_orders');
      const [direct] = await rows(to, 'SELECT COUNT(*) AS n FROM orders WHERE total > 500');
      assert.equal(viewCount?.['n'], direct?.['n']);
      await to.query("INSERT INTO customers (name) VALUES ('after restore')");
      const [audited] = await rows(to, 'SELECT COUNT(*) AS n FROM audit');
      assert.equal(Number(audited?.['n']), dumped('audit') + 1, 'the trigger fires in the restored copy');
    } finally {
      await from.end();
      await to.end();
    }
  });

  test('restoring into a database that has tables needs clean, which replaces everything', async () => {
    const target = source(RESTORED_DB);
    await assert.rejects(
      target.restore(createReadStream(dumpFile), { clean: false }),
      sourceError(
        'target-not-empty',
        `database "${RESTORED_DB}" already has 8 tables; pass --clean to replace them`,
      ),
    );
    const extra = await db(RESTORED_DB);
    await extra.query('DELETE FROM orders WHERE id % 2 = 0');
    await extra.query('CREATE TABLE leftover (x INT)');
    await extra.end();
    await target.restore(createReadStream(dumpFile), { clean: true });
    assert.deepEqual(await target.tableCounts(), dumpedCounts);
  });

  test('broken SQL is restore-failed with the client error line', async () => {
    const name = uniqueName('tmbad');
    created.push(name);
    const header = '-- MariaDB dump 10.19\n';
    await assert.rejects(
      source(name).restore(
        Readable.from([Buffer.from(`${header}CREATE TABLE t (x int);\nINSERT INTO t VALUES (1,;\n`)]),
        {
          clean: false,
        },
      ),
      sourceError('restore-failed', /^ERROR 1064 \(42000\) at line 3: You have an error in your SQL syntax/),
    );
  });

  test('a dump cut at a statement boundary is refused by restore as partial', async () => {
    const name = uniqueName('tmcut');
    created.push(name);
    const cut = await truncated('cut-routines.sql', '\n--\n-- Dumping routines');
    await assert.rejects(
      source(name).restore(createReadStream(cut), { clean: false }),
      sourceError(
        'restore-failed',
        `the dump ends without its "-- Dump completed" line (truncated); database "${name}" was not changed`,
      ),
    );
    assert.equal(await databaseExists(name), false, 'nothing was created');
    assert.deepEqual(await restoreLeftovers(name), []);
  });

  test('--clean cut short keeps the old database exactly as it was; whole, it replaces it', async () => {
    const name = uniqueName('tmold');
    created.push(name);
    await admin.query(`CREATE DATABASE ${name}`);
    const old = await db(name);
    await old.query('CREATE TABLE precious (id INT PRIMARY KEY)');
    await old.query('INSERT INTO precious SELECT seq FROM seq_1_to_77');
    await old.query('CREATE VIEW precious_view AS SELECT id FROM precious WHERE id > 70');
    await old.end();
    const cut = await truncated('cut-half.sql', Math.floor((await stat(dumpFile)).size / 2));
    await assert.rejects(
      source(name).restore(createReadStream(cut), { clean: true }),
      sourceError('restore-failed', new RegExp(`database "${name}" was not changed$`)),
    );
    assert.deepEqual(await source(name).tableCounts(), [{ schema: '', name: 'precious', rows: 77 }]);
    const [view] = await rows(admin, `SELECT COUNT(*) AS n FROM \`${name}\`.precious_view`);
    assert.equal(Number(view?.['n']), 7);
    assert.deepEqual(await restoreLeftovers(name), []);
    await source(name).restore(createReadStream(dumpFile), { clean: true });
    assert.deepEqual(await source(name).tableCounts(), dumpedCounts);
    assert.deepEqual(await restoreLeftovers(name), []);
  });

  test('a database with a session in it is not replaced: target-busy, nothing changed', async () => {
    const name = uniqueName('tmbusy');
    created.push(name);
    await admin.query(`CREATE DATABASE ${name}`);
    const session = await db(name);
    try {
      await session.query('CREATE TABLE kept (id INT)');
      await assert.rejects(
        source(name).restore(createReadStream(dumpFile), { clean: true }),
        sourceError(
          'target-busy',
          `database "${name}" cannot be replaced while 1 other session is connected to it; disconnect them and retry (nothing was changed)`,
        ),
      );
      assert.deepEqual(await restoreLeftovers(name), []);
    } finally {
      await session.end();
    }
  });

  test('a staging database left by a killed restore is removed by the next restore of that target', async () => {
    const name = uniqueName('tmkill');
    created.push(name);
    const staging = `tidemark_restore_${name}`;
    created.push(staging);
    await admin.query(`CREATE DATABASE \`${staging}\``);
    await admin.query(`CREATE TABLE \`${staging}\`.half (x INT)`);
    await source(name).restore(createReadStream(dumpFile), { clean: false });
    assert.deepEqual(await source(name).tableCounts(), dumpedCounts);
    assert.deepEqual(await restoreLeftovers(name), []);
  });

  test('abort stops the tool and removes its option file', async () => {
    const record = join(workDir, 'abort-calls.txt');
    const binDir = await recordingTools(record);
    const handle = await source(SOURCE_DB, { binDir }).dump();
    await sleep(50);
    handle.abort();
    await assert.rejects(handle.finished, sourceError('dump-failed', 'mariadb-dump was aborted'));
    await assert.rejects(handle.content, sourceError('dump-failed'));
    const files = (await readFile(record, 'utf8')).split('\n').filter((l) => l.startsWith('FILE '));
    assert.equal(files.length, 1);
    assert.equal(existsSync(files[0]!.split(' ')[1]!), false);
  });

  test('a failing mariadb-dump rejects finished with its error line', async () => {
    const binDir = await scriptDir(workDir, {
      'mariadb-dump':
        'if [ "$1" = --version ]; then echo "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB"; exit 0; fi\n' +
        'echo "-- MariaDB dump 10.19"\n' +
        "echo \"mariadb-dump: Couldn't execute 'SHOW FIELDS': Table is marked as crashed (145)\" >&2; exit 2",
    });
    const handle = await source(SOURCE_DB, { binDir }).dump();
    handle.stdout.resume();
    const expected = "mariadb-dump: Couldn't execute 'SHOW FIELDS': Table is marked as crashed (145)";
    await assert.rejects(handle.finished, sourceError('dump-failed', expected));
    await assert.rejects(handle.content, sourceError('dump-failed', expected));
  });

  test('the password reaches the tools only through a private option file that is removed afterwards', async () => {
    const record = join(workDir, 'calls.txt');
    const binDir = await recordingTools(record);
    const user = (database: string): MysqlSource =>
      new MysqlSource(`mysql://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:3306/${database}`, {
        binDir,
      });
    const info = await user(SOURCE_DB).preCheck();
    assert.match(info.dumpTool, /^mariadb-dump 10\./);
    const handle = await user(SOURCE_DB).dump();
    const chunks: Buffer[] = [];
    handle.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    await handle.finished;
    const counts = (await handle.content).tables;
    assert.equal(counts.find((t) => t.name === 'tricky')?.rows, TRICKY.length);
    // The tricky password also works for the client: restore into a database the user may create.
    const own = `${SOURCE_DB}_own`;
    created.push(own);
    await admin.query(`GRANT ALL ON \`${own}\`.* TO '${USER}'@'%'`);
    // The restore is built in a staging database and the old objects wait in a replaced one (README).
    for (const prefix of ['tidemark_restore_', 'tidemark_replaced_'])
      await admin.query(`GRANT ALL ON \`${prefix}${own}\`.* TO '${USER}'@'%'`);
    await user(own).restore(Readable.from([Buffer.concat(chunks)]), { clean: false });
    assert.deepEqual(
      (await user(own).tableCounts()).find((t) => t.name === 'tricky'),
      { schema: '', name: 'tricky', rows: TRICKY.length },
    );

    const text = await readFile(record, 'utf8');
    const envText = await readFile(`${record}.env`, 'utf8');
    for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), 's3cret']) {
      assert.ok(!text.includes(secret), 'password in argv');
      assert.ok(!envText.includes(secret), 'password in the environment');
    }
    const lines = text.split('\n');
    const calls = lines.filter((l) => l.startsWith('ARGS ')).map((l) => l.slice(5));
    const runs = calls.filter((c) => c !== '[--version]');
    assert.equal(runs.length, 2, calls.join('\n'));
    for (const call of runs) {
      assert.match(
        call,
        new RegExp(
          `^\\[--defaults-extra-file=[^\\]]+/client\\.cnf\\] \\[--host=127\\.0\\.0\\.1\\] \\[--port=3306\\] \\[--user=${USER}\\] \\[--protocol=TCP\\]`,
        ),
      );
    }
    assert.match(
      runs[0]!,
      new RegExp(`\\[--single-transaction\\].*\\[--hex-blob\\].*\\[--\\] \\[${SOURCE_DB}\\]$`),
    );
    assert.match(
      runs[1]!,
      new RegExp(`\\[--database=tidemark_restore_${own}\\]$`),
      'restored into the staging database',
    );
    const files = lines.filter((l) => l.startsWith('FILE ')).map((l) => l.split(' '));
    assert.equal(files.length, 2);
    for (const [, path, fileMode, dirMode] of files) {
      assert.equal(fileMode, '600');
      assert.equal(dirMode, '700');
      assert.equal(existsSync(path!), false, `${path} was removed`);
    }
  });
});

/** A bin directory whose mariadb-dump and mariadb record argv, the option file's modes and the environment. */
function recordingTools(record: string): Promise<string> {
  const wrapper = (tool: string): string =>
    `case "$1" in --defaults-extra-file=*)
  f="\${1#--defaults-extra-file=}"
  printf 'FILE %s %s %s\\n' "$f" "$(stat -c %a "$f")" "$(stat -c %a "$(dirname "$f")")" >> '${record}' ;;
esac
printf 'ARGS' >> '${record}'; for a in "$@"; do printf ' [%s]' "$a" >> '${record}'; done; printf '\\n' >> '${record}'
env >> '${record}.env'
exec ${REAL_BIN}/${tool} "$@"`;
  return scriptDir(workDir, { 'mariadb-dump': wrapper('mariadb-dump'), mariadb: wrapper('mariadb') });
}

describe('checkStructure', () => {
  test('a whole dump is ok, counts its tables and is read to its end', async () => {
    const input = counted(createReadStream(dumpFile));
    const result = await source(SOURCE_DB).checkStructure(input.stream);
    assert.deepEqual(result, { ok: true, tool: 'sql scan', entries: 6 });
    assert.equal(input.bytes(), (await stat(dumpFile)).size);
  });

  test('a truncated dump is not ok, and is read to its end too', async () => {
    const size = (await stat(dumpFile)).size;
    const half = await truncated('half.sql', Math.floor(size / 2));
    const input = counted(createReadStream(half));
    const result = await source(SOURCE_DB).checkStructure(input.stream);
    assert.equal(result.ok, false);
    assert.match(result.detail ?? '', /truncated/);
    assert.equal(input.bytes(), Math.floor(size / 2));
    const routines = await truncated('cut-routines.sql', '\n--\n-- Dumping routines');
    assert.deepEqual(await source(SOURCE_DB).checkStructure(createReadStream(routines)), {
      ok: false,
      tool: 'sql scan',
      entries: 6,
      detail: 'the dump ends without its "-- Dump completed" line (truncated)',
    });
  });

  test('something that is not a dump is not ok', async () => {
    const result = await source(SOURCE_DB).checkStructure(Readable.from([randomBytes(1 << 20)]));
    assert.equal(result.ok, false);
    assert.equal(result.detail, 'the input does not start like a mysqldump or mariadb-dump file');
  });
});

describe('restoreTest', () => {
  test('passes with the dumped counts and drops the scratch database', async () => {
    const scratch = uniqueName('tmscrok');
    created.push(scratch);
    const result = await source(SOURCE_DB).restoreTest(
      createReadStream(dumpFile),
      { tables: dumpedCounts },
      {
        name: scratch,
        dir: tmpdir(),
      },
    );
    assert.equal(result.ok, true, JSON.stringify(result.checks));
    assert.equal(result.scratch, scratch);
    assert.ok(result.durationMs > 0);
    assert.deepEqual(result.checks[0], { name: 'tables', ok: true, expected: 6, actual: 6 });
    const tricky = result.checks.find((c) => /^rows \.?tricky$/.test(c.name));
    assert.deepEqual(
      { ...tricky, name: '' },
      { name: '', ok: true, expected: TRICKY.length, actual: TRICKY.length },
    );
    assert.deepEqual(result.checks.at(-1), { name: 'dump complete', ok: true });
    assert.equal(result.checks.length, 8);
    assert.equal(await databaseExists(scratch), false);
  });

  test('a wrong expected count fails that check only; a leftover scratch of the same name is replaced', async () => {
    const scratch = uniqueName('tmscrbad');
    created.push(scratch);
    await admin.query(`CREATE DATABASE ${scratch}`);
    await admin.query(`CREATE TABLE ${scratch}.stale (x INT)`);
    const expected = dumpedCounts.map((t) => (t.name === 'orders' ? { ...t, rows: t.rows + 1 } : t));
    const result = await source(SOURCE_DB).restoreTest(
      createReadStream(dumpFile),
      { tables: expected },
      {
        name: scratch,
        dir: tmpdir(),
      },
    );
    assert.equal(result.ok, false);
    const orders = dumpedCounts.find((t) => t.name === 'orders')!.rows;
    assert.deepEqual(
      result.checks.filter((c) => !c.ok).map((c) => ({ ...c, name: c.name.replace(/^rows \.?/, 'rows ') })),
      [{ name: 'rows orders', ok: false, expected: orders + 1, actual: orders }],
    );
    assert.equal(await databaseExists(scratch), false);
  });

  test('a dump cut inside a statement fails in the client, not with a throw', async () => {
    const scratch = uniqueName('tmscrcut');
    created.push(scratch);
    const full = await readFile(dumpFile);
    const cut = await truncated('mid-insert.sql', full.indexOf('INSERT INTO `orders`') + 5000);
    const result = await source(SOURCE_DB).restoreTest(
      createReadStream(cut),
      { tables: dumpedCounts },
      {
        name: scratch,
        dir: tmpdir(),
      },
    );
    assert.equal(result.ok, false);
    const [client] = result.checks;
    assert.equal(client?.name, 'mariadb');
    assert.match(client.detail ?? '', /^ERROR \d+ \(\w+\) at line \d+/);
    assert.deepEqual(result.checks[1], {
      name: 'dump complete',
      ok: false,
      detail: 'the dump ends inside a statement (truncated)',
    });
    assert.equal(await databaseExists(scratch), false);
  });

  test('a dump cut between statements restores but is not ok', async () => {
    const scratch = uniqueName('tmscrend');
    created.push(scratch);
    const cut = await truncated('cut-routines.sql', '\n--\n-- Dumping routines');
    const result = await source(SOURCE_DB).restoreTest(
      createReadStream(cut),
      { tables: dumpedCounts },
      {
        name: scratch,
        dir: tmpdir(),
      },
    );
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.checks.filter((c) => !c.ok),
      [
        {
          name: 'dump complete',
          ok: false,
          detail: 'the dump ends without its "-- Dump completed" line (truncated)',
        },
      ],
    );
    assert.equal(await databaseExists(scratch), false);
  });

  test('an unusable scratch name is refused before anything is created', async () => {
    await assert.rejects(
      source(SOURCE_DB).restoreTest(
        createReadStream(dumpFile),
        { tables: dumpedCounts },
        { name: 'Bad-Name', dir: tmpdir() },
      ),
      RangeError,
    );
  });

  test('an unreachable server throws', async () => {
    const port = await freePort();
    await assert.rejects(
      new MysqlSource(`mysql://root@127.0.0.1:${port}/x`).restoreTest(
        Readable.from([]),
        { tables: [] },
        {
          name: 'tm_never',
          dir: tmpdir(),
        },
      ),
      sourceError('source-unreachable'),
    );
  });
});
