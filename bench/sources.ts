/**
 * Backup and restore throughput per source kind, through Tidemark's source layer plus the dumper's compression
 * (dump stdout → zstd level 1 → a file; file → zstd decompress → source.restore), against the kind's bare tool on
 * the same generated dataset in the same run. Run by hand (not a test):
 *   node --expose-gc -r ./tools/register.js bench/sources.ts [--mb 300] [--only postgres,mysql,sqlite,directory,azure-blob]
 * Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), MariaDB on 127.0.0.1:3306 (root, no password),
 * tar, and Azurite from node_modules. Baselines:
 *   postgres    pg_dump -Fc -Z0 > /dev/null; pg_restore --no-owner --exit-on-error of a -Fc file into a new db
 *               (also Tidemark with jobs: 2, i.e. pg_dump -Fd -j2 streamed as a tar, compared with the same)
 *   mysql       mariadb-dump --single-transaction > /dev/null; mariadb db < file into a new db
 *   sqlite      fs.copyFile of the database file, and back into a new path
 *   directory   tar -cf - | cat > /dev/null (GNU tar skips reading files when its archive *is* /dev/null);
 *               tar -xf into a new directory
 *   azure-blob  SDK download of every blob to nowhere, one after the other; SDK upload of every blob
 * Tidemark's times include zstd and writing the artifact file; the baselines compress nothing and (for backups)
 * write nowhere, so "zstd s" / "unzstd s" (zstd level 1 alone on the same bytes) show what compression costs.
 * Plus one incremental (10% of the files / blobs changed) for directory and azure-blob, with no baseline; the
 * directory's is also restored as a chain (full + incremental). Every restore is checked (row counts, or a digest
 * of all files / blobs) so a fast but incomplete restore fails instead of scoring. "raw MB" is what the dump's
 * stdout produced. Single runs on a shared machine: compare ratios within a run, not across runs. Everything
 * generated (databases, files, containers, Azurite) is removed at the end, also on failure.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pipeline as pipeCallback, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { Client } from 'pg';
import { CountingStream, createCompressor, createDecompressor } from '@tidemark/artifact';
import type { BackupContent, FileEntry } from '@tidemark/manifest';
import { createSource, type ChainMember, type Source } from '@tidemark/source-kinds';
import { startAzurite, uniqueName } from '@tidemark/testing';

const MiB = 1024 ** 2;
const KINDS = ['postgres', 'mysql', 'sqlite', 'directory', 'azure-blob'] as const;
type Kind = (typeof KINDS)[number];

const PG_SERVER = 'postgres://postgres@127.0.0.1:5432';
const PG_BIN = process.env['TIDEMARK_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';
const PG_ARGS = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres'];
const MYSQL_SERVER = 'mysql://root@127.0.0.1:3306';
const MYSQL_ARGS = ['-h', '127.0.0.1', '-P', '3306', '-u', 'root'];
/** Roughly what one generated row takes in a plain dump, so the raw dump comes out near --mb. */
const DUMP_BYTES_PER_ROW = 150;

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
}
const mb = Number(flag('--mb') ?? 300);
const only = flag('--only')
  ?.split(',')
  .map((kind) => kind.trim()) ?? [...KINDS];

/** One line of the table; a missing baseline prints as "-". */
interface Row {
  label: string;
  raw: number;
  compressed: number;
  backupMs: number;
  baseBackupMs?: number;
  restoreMs?: number;
  baseRestoreMs?: number;
  /** What the restore rebuilt, when not `raw` (a chain restore rebuilds the whole point). */
  restoredBytes?: number;
  /** zstd level 1 alone on this artifact, in this process: what the pipeline adds on top of the tool. */
  codec?: { compressMs: number; decompressMs: number };
}

interface Artifact {
  backupId: string;
  file: string;
  raw: number;
  compressed: number;
  ms: number;
  content: BackupContent;
}

/** Where one kind keeps its files; removed by the kind's `finally`. */
interface Scratch {
  dir: string;
  /** A new path inside `dir`. */
  path(name: string): string;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/**
 * The highest RSS sampled while Tidemark's own backups and restores ran in the current kind (maxRSS covers the
 * whole process, dataset generation and baselines included).
 */
const tidemarkRss = { peak: 0, growth: 0 };

async function sampled<T>(work: () => Promise<T>): Promise<T> {
  // With --expose-gc, what dataset generation left on the heap is not counted against Tidemark.
  gc?.();
  // The growth over the RSS at the start: what this backup or restore added (the peak includes leftovers).
  const before = process.memoryUsage.rss();
  const sample = (): void => {
    const rss = process.memoryUsage.rss();
    tidemarkRss.peak = Math.max(tidemarkRss.peak, rss);
    tidemarkRss.growth = Math.max(tidemarkRss.growth, rss - before);
  };
  const timer = setInterval(sample, 20);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    sample();
  }
}

const discard = (): Writable =>
  new Writable({
    write(_chunk: Buffer, _encoding, done) {
      done();
    },
  });

/**
 * zstd level 1 alone, each direction on its own (the two would overlap on the thread pool): the artifact
 * decompressed to nowhere, and its raw bytes (unpacked to a file first) compressed to nowhere.
 */
async function codecTimes(artifact: Artifact): Promise<{ compressMs: number; decompressMs: number }> {
  const decompressMs = await timed(() => pipeline(unpacked(artifact.file), discard()));
  const raw = `${artifact.file}.raw`;
  try {
    await pipeline(unpacked(artifact.file), createWriteStream(raw));
    const compressMs = await timed(() =>
      pipeline(createReadStream(raw), createCompressor('zstd'), discard()),
    );
    return { compressMs, decompressMs };
  } finally {
    await rm(raw, { force: true });
  }
}

/** As the dumper does it: dump stdout → count → zstd level 1 → file, in one pass. */
async function backup(
  source: Source,
  scratch: Scratch,
  backupId: string,
  previous?: { backupId: string; files: FileEntry[] },
): Promise<Artifact> {
  const file = scratch.path(`${backupId}.zst`);
  const workDir = scratch.path(`work-${backupId}`);
  await mkdir(workDir);
  try {
    return await sampled(() => backupInto(source, file, workDir, backupId, previous));
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function backupInto(
  source: Source,
  file: string,
  workDir: string,
  backupId: string,
  previous: { backupId: string; files: FileEntry[] } | undefined,
): Promise<Artifact> {
  const started = performance.now();
  const handle = await source.dump({ backupId, workDir, ...(previous ? { previous } : {}) });
  const counter = new CountingStream();
  try {
    await Promise.all([
      pipeline(handle.stdout, counter, createCompressor('zstd'), createWriteStream(file)),
      handle.finished,
    ]);
  } catch (error) {
    handle.abort();
    throw error;
  }
  const ms = performance.now() - started;
  const content = await handle.content;
  return { backupId, file, raw: counter.bytes, compressed: (await stat(file)).size, ms, content };
}

/** The artifact decompressed, as a restore gets it; a read or decompression error fails the returned stream. */
function unpacked(file: string): Readable {
  return pipeCallback(createReadStream(file), createDecompressor('zstd'), () => undefined);
}

/** Restores `artifacts` (one for stream kinds, a chain from its full for chain kinds) at what `source` points at. */
async function restore(source: Source, artifacts: Artifact[]): Promise<number> {
  const last = artifacts.at(-1);
  if (!last) throw new Error('nothing to restore');
  return sampled(() =>
    timed(async () => {
      if (!source.incremental) {
        await source.restore(unpacked(last.file), { clean: false });
        return;
      }
      async function* members(): AsyncIterable<ChainMember> {
        for (const artifact of artifacts) {
          // Each member is opened only when the restore asks for it, as the restore service hands them over.
          await stat(artifact.file);
          yield { backupId: artifact.backupId, stream: unpacked(artifact.file) };
        }
      }
      await source.restore(members(), last.content, { clean: false });
    }),
  );
}

/** A restore that finished fast but incomplete must not pass for a good number. */
function same(what: string, restored: unknown, expected: unknown): void {
  if (JSON.stringify(restored) !== JSON.stringify(expected)) {
    throw new Error(`${what}: restored ${JSON.stringify(restored)}, expected ${JSON.stringify(expected)}`);
  }
}

/** Runs a tool to completion; `stdin`/`stdout` name files, stderr is kept for the error message. */
async function run(
  command: string,
  args: string[],
  io: { stdin?: string; stdout?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const input = io.stdin === undefined ? undefined : await open(io.stdin, 'r');
  const output = io.stdout === undefined ? undefined : await open(io.stdout, 'w');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(command, args, {
        stdio: [input?.fd ?? 'ignore', output?.fd ?? 'ignore', 'pipe'],
        env: io.env ?? process.env,
      });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-2000);
      });
      child.once('error', reject);
      child.once('close', (code, signal) => {
        if (code === 0) resolve();
        else
          reject(
            new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`),
          );
      });
    });
  } finally {
    await input?.close();
    await output?.close();
  }
}

/** Log-like text: a counter, a random token and repeated words, so zstd gets a text-like ratio (not 100×). */
function textBlock(seed: number, bytes: number): Buffer {
  const random = randomBytes(Math.ceil(bytes / 60) * 6).toString('hex');
  const lines: string[] = [];
  let size = 0;
  for (let n = 0; size < bytes; n++) {
    const line =
      `${seed}:${n} ${random.slice(n * 12, n * 12 + 12)} GET /api/items/${(n * 7919) % 10007} ` +
      `status=200 ms=${n % 97} user=${(seed * 31 + n) % 5000}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

// ---------------------------------------------------------------- postgres

async function withPg<T>(database: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: `${PG_SERVER}/${database}` });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function pgRows(database: string, tables: number): Promise<number[]> {
  return withPg(database, async (c) => {
    const counts: number[] = [];
    for (let t = 0; t < tables; t++) {
      const result = await c.query<{ n: string }>(`SELECT count(*) AS n FROM events_${t}`);
      counts.push(Number(result.rows[0]?.n ?? -1));
    }
    return counts;
  });
}

async function benchPostgres(scratch: Scratch): Promise<Row[]> {
  const db = uniqueName('tmbench');
  const created: string[] = [];
  const createDb = async (name: string): Promise<void> => {
    created.push(name);
    await withPg('postgres', (c) => c.query(`CREATE DATABASE ${name}`));
  };
  try {
    await createDb(db);
    // Several tables, so the jobs: 2 path has something to share between its workers.
    const tables = 4;
    const rows = Math.round((mb * MiB) / DUMP_BYTES_PER_ROW / tables);
    await Promise.all(
      Array.from({ length: tables }, (_, t) =>
        withPg(db, async (c) => {
          await c.query(
            `CREATE TABLE events_${t} (id bigint PRIMARY KEY, at timestamptz, kind text, payload jsonb, note text)`,
          );
          for (let start = 1; start <= rows; start += 500_000) {
            await c.query(
              `INSERT INTO events_${t} SELECT i, timestamptz '2025-01-01' + i * interval '1 second', 'kind-' || (i % 40),
                 jsonb_build_object('user', i % 100000, 'amount', (i % 9973) * 1.5, 'tags', jsonb_build_array(i % 7, i % 13)),
                 md5(i::text) || ' ' || repeat(chr((97 + i % 26)::int), 20)
               FROM generate_series($1::bigint, $2::bigint) i`,
              [start, Math.min(rows, start + 499_999)],
            );
          }
          await c.query(`VACUUM ANALYZE events_${t}`);
        }),
      ),
    );
    const size = await withPg(db, async (c) =>
      Number(
        (await c.query<{ s: string }>('SELECT pg_database_size(current_database()) AS s')).rows[0]?.s ?? 0,
      ),
    );
    console.log(`  postgres: ${db} ${(size / MiB).toFixed(0)} MB on disk, ${tables} tables`);

    const baseBackupMs = await timed(() =>
      run(join(PG_BIN, 'pg_dump'), ['-Fc', '-Z0', ...PG_ARGS, db], { stdout: '/dev/null' }),
    );
    const bareFile = scratch.path('bare.dump');
    await run(join(PG_BIN, 'pg_dump'), ['-Fc', '-Z0', ...PG_ARGS, '-f', bareFile, db]);
    const bareDb = `${db}_bare`;
    const baseRestoreMs = await timed(async () => {
      await createDb(bareDb);
      await run(join(PG_BIN, 'pg_restore'), [
        '--no-owner',
        '--exit-on-error',
        ...PG_ARGS,
        '-d',
        bareDb,
        bareFile,
      ]);
    });
    await rm(bareFile);
    const expected = await pgRows(db, tables);
    same(`rows in ${bareDb}`, await pgRows(bareDb, tables), expected);

    const result: Row[] = [];
    for (const jobs of [undefined, 2]) {
      const options = jobs === undefined ? undefined : { jobs };
      const artifact = await backup(
        createSource({ kind: 'postgres', url: `${PG_SERVER}/${db}`, options }),
        scratch,
        jobs === undefined ? 'pg' : `pg-j${jobs}`,
      );
      const into = `${db}_r${jobs ?? 1}`;
      created.push(into);
      const restoreMs = await restore(
        createSource({ kind: 'postgres', url: `${PG_SERVER}/${into}`, options }),
        [artifact],
      );
      same(`rows in ${into}`, await pgRows(into, tables), expected);
      const codec = await codecTimes(artifact);
      await rm(artifact.file);
      result.push({
        codec,
        label: jobs === undefined ? 'postgres' : `postgres jobs=${jobs}`,
        raw: artifact.raw,
        compressed: artifact.compressed,
        backupMs: artifact.ms,
        baseBackupMs,
        restoreMs,
        baseRestoreMs,
      });
    }
    return result;
  } finally {
    for (const name of created.reverse()) {
      await withPg('postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(
        (error: unknown) => {
          console.error(`  could not drop ${name}: ${String(error)}`);
        },
      );
    }
  }
}

// ---------------------------------------------------------------- mysql

async function mysqlQuery(sql: string, database?: string): Promise<RowDataPacket[]> {
  const connection = await createConnection({
    host: '127.0.0.1',
    port: 3306,
    user: 'root',
    ...(database ? { database } : {}),
  });
  try {
    const [rows] = await connection.query<RowDataPacket[]>(sql);
    return rows;
  } finally {
    await connection.end();
  }
}

async function mysqlRows(database: string, tables: number): Promise<number[]> {
  const counts: number[] = [];
  for (let t = 0; t < tables; t++) {
    counts.push(
      Number((await mysqlQuery(`SELECT count(*) AS n FROM events_${t}`, database))[0]?.['n'] ?? -1),
    );
  }
  return counts;
}

async function benchMysql(scratch: Scratch): Promise<Row[]> {
  const db = uniqueName('tmbench');
  const bareDb = `${db}_bare`;
  const into = `${db}_r`;
  try {
    await mysqlQuery(`CREATE DATABASE ${db}`);
    const tables = 2;
    const rows = Math.round((mb * MiB) / DUMP_BYTES_PER_ROW / tables);
    for (let t = 0; t < tables; t++) {
      await mysqlQuery(
        `CREATE TABLE events_${t} (id bigint PRIMARY KEY, at datetime, kind varchar(16), payload text, note varchar(64)) ENGINE=InnoDB`,
        db,
      );
      for (let start = 1; start <= rows; start += 250_000) {
        // MariaDB's Sequence engine: seq_<from>_to_<to> is a virtual table of those integers.
        await mysqlQuery(
          `INSERT INTO events_${t} SELECT seq, TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq SECOND, CONCAT('kind-', seq % 40),
             CONCAT('{"user": ', seq % 100000, ', "amount": ', (seq % 9973) * 1.5, ', "tags": [', seq % 7, ', ', seq % 13, ']}'),
             CONCAT(MD5(seq), ' ', REPEAT(CHAR(97 + seq % 26), 20))
           FROM seq_${start}_to_${Math.min(rows, start + 249_999)}`,
          db,
        );
      }
    }
    console.log(`  mysql: ${db} ${tables} tables × ${rows} rows`);

    const baseBackupMs = await timed(() =>
      run('mariadb-dump', [...MYSQL_ARGS, '--single-transaction', db], { stdout: '/dev/null' }),
    );
    const bareFile = scratch.path('bare.sql');
    await run('mariadb-dump', [...MYSQL_ARGS, '--single-transaction', db], { stdout: bareFile });
    const baseRestoreMs = await timed(async () => {
      await mysqlQuery(`CREATE DATABASE ${bareDb}`);
      await run('mariadb', [...MYSQL_ARGS, bareDb], { stdin: bareFile });
    });
    await rm(bareFile);
    const expected = await mysqlRows(db, tables);
    same(`rows in ${bareDb}`, await mysqlRows(bareDb, tables), expected);

    const artifact = await backup(
      createSource({ kind: 'mysql', url: `${MYSQL_SERVER}/${db}` }),
      scratch,
      'my',
    );
    const restoreMs = await restore(createSource({ kind: 'mysql', url: `${MYSQL_SERVER}/${into}` }), [
      artifact,
    ]);
    same(`rows in ${into}`, await mysqlRows(into, tables), expected);
    return [
      {
        codec: await codecTimes(artifact),
        label: 'mysql',
        raw: artifact.raw,
        compressed: artifact.compressed,
        backupMs: artifact.ms,
        baseBackupMs,
        restoreMs,
        baseRestoreMs,
      },
    ];
  } finally {
    for (const name of [into, bareDb, db]) {
      await mysqlQuery(`DROP DATABASE IF EXISTS ${name}`).catch((error: unknown) => {
        console.error(`  could not drop ${name}: ${String(error)}`);
      });
    }
  }
}

// ---------------------------------------------------------------- sqlite

function sqliteRows(file: string): number {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return Number(db.prepare('SELECT count(*) AS n FROM events').get()?.['n'] ?? -1);
  } finally {
    db.close();
  }
}

async function benchSqlite(scratch: Scratch): Promise<Row[]> {
  const file = scratch.path('bench.sqlite');
  const db = new DatabaseSync(file);
  try {
    db.exec(`PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
      CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT, kind TEXT, payload TEXT, note TEXT);
      CREATE INDEX events_kind ON events (kind, at);`);
    const insert = db.prepare(
      `WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i < ?)
       INSERT INTO events SELECT i, datetime(1735689600 + i, 'unixepoch'), 'kind-' || (i % 40),
         printf('{"user": %d, "amount": %.1f, "tags": [%d, %d]}', i % 100000, (i % 9973) * 1.5, i % 7, i % 13),
         lower(hex(randomblob(8))) || ' status ok ' || (i % 997)
       FROM s`,
    );
    const bytes = (): number => {
      const row = db
        .prepare('SELECT page_count * page_size AS b FROM pragma_page_count, pragma_page_size')
        .get();
      return Number(row?.['b'] ?? 0);
    };
    for (let start = 1; bytes() < mb * MiB; start += 50_000) insert.run(start, start + 49_999);
  } finally {
    db.close();
  }
  const size = (await stat(file)).size;
  console.log(`  sqlite: ${file} ${(size / MiB).toFixed(0)} MB`);

  const copy = scratch.path('copy.sqlite');
  const baseBackupMs = await timed(() => copyFile(file, copy));
  const baseRestoreMs = await timed(() => copyFile(copy, scratch.path('copied-back.sqlite')));
  const artifact = await backup(createSource({ kind: 'sqlite', url: file }), scratch, 'sq');
  const restoredFile = scratch.path('restored.sqlite');
  const restoreMs = await restore(createSource({ kind: 'sqlite', url: restoredFile }), [artifact]);
  same(`rows in ${restoredFile}`, sqliteRows(restoredFile), sqliteRows(file));
  return [
    {
      codec: await codecTimes(artifact),
      label: 'sqlite',
      raw: artifact.raw,
      compressed: artifact.compressed,
      backupMs: artifact.ms,
      baseBackupMs,
      restoreMs,
      baseRestoreMs,
    },
  ];
}

// ---------------------------------------------------------------- directory

/** Every file's relative path, size and sha256, in one digest per tree. */
async function treeDigest(root: string): Promise<{ files: number; bytes: number; sha256: string }> {
  const names = (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
  const hash = createHash('sha256');
  let bytes = 0;
  for (const name of names) {
    hash.update(`${name}\0`);
    for await (const chunk of createReadStream(join(root, name)) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  }
  return { files: names.length, bytes, sha256: hash.digest('hex') };
}

async function benchDirectory(scratch: Scratch): Promise<Row[]> {
  const dir = scratch.path('data');
  const files = Math.max(10, Math.round(mb));
  const name = (i: number): string => join(dir, `d${i % 10}`, `file-${i}.dat`);
  for (let d = 0; d < 10; d++) await mkdir(join(dir, `d${d}`), { recursive: true });
  for (let i = 0; i < files; i++) await writeFile(name(i), textBlock(i, MiB));
  console.log(`  directory: ${dir} ${files} files × 1 MB`);

  const baseBackupMs = await timed(() =>
    run('bash', ['-c', 'set -o pipefail; tar -cf - -C "$1" . | cat > /dev/null', 'bash', dir]),
  );
  const bareTar = scratch.path('bare.tar');
  await run('tar', ['-cf', bareTar, '-C', dir, '.']);
  const bareInto = scratch.path('bare-restored');
  const baseRestoreMs = await timed(async () => {
    await mkdir(bareInto);
    await run('tar', ['-xf', bareTar, '-C', bareInto]);
  });
  await rm(bareTar);
  await rm(bareInto, { recursive: true });

  const source = createSource({ kind: 'directory', url: dir });
  const full = await backup(source, scratch, 'dir-full');
  const restoreMs = await restore(createSource({ kind: 'directory', url: scratch.path('restored') }), [full]);
  same('the restored tree', await treeDigest(scratch.path('restored')), await treeDigest(dir));
  await rm(scratch.path('restored'), { recursive: true });

  // Every tenth file rewritten with new bytes of the same size: its mtime moves and its hash differs.
  for (let i = 0; i < files; i += 10) await writeFile(name(i), textBlock(i + files, MiB));
  const incremental = await backup(source, scratch, 'dir-incr', {
    backupId: full.backupId,
    files: full.content.files ?? [],
  });
  const chainRestoreMs = await restore(createSource({ kind: 'directory', url: scratch.path('restored-2') }), [
    full,
    incremental,
  ]);
  same(
    'the tree restored from the chain',
    await treeDigest(scratch.path('restored-2')),
    await treeDigest(dir),
  );
  return [
    {
      codec: await codecTimes(full),
      label: 'directory',
      raw: full.raw,
      compressed: full.compressed,
      backupMs: full.ms,
      baseBackupMs,
      restoreMs,
      baseRestoreMs,
    },
    {
      label: 'directory incr 10%',
      raw: incremental.raw,
      compressed: incremental.compressed,
      backupMs: incremental.ms,
      restoreMs: chainRestoreMs,
      restoredBytes: full.raw,
    },
  ];
}

// ---------------------------------------------------------------- azure-blob

/** Every blob's name, size and sha256, in one digest per container. */
async function containerDigest(
  client: ContainerClient,
): Promise<{ blobs: number; bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let blobs = 0;
  let bytes = 0;
  for await (const item of client.listBlobsFlat()) {
    const body = (await client.getBlobClient(item.name).download()).readableStreamBody;
    if (!body) throw new Error(`download of ${item.name} has no body`);
    hash.update(`${item.name}\0`);
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    blobs++;
  }
  return { blobs, bytes, sha256: hash.digest('hex') };
}

async function benchAzureBlob(scratch: Scratch): Promise<Row[]> {
  const azurite = await startAzurite({ location: scratch.path('azurite') });
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const name = uniqueName('tmbench');
  const containers: ContainerClient[] = [];
  const container = (suffix: string): ContainerClient => {
    const client = service.getContainerClient(`${name}${suffix}`);
    containers.push(client);
    return client;
  };
  const urlOf = (client: ContainerClient): string =>
    `${azurite.connectionString}Container=${client.containerName}`;
  try {
    const source = container('');
    await source.create();
    const blobs = Math.max(5, Math.round(mb / 2));
    const blobName = (i: number): string => `b${i % 10}/blob-${i}.log`;
    for (let i = 0; i < blobs; i++)
      await source.getBlockBlobClient(blobName(i)).uploadData(textBlock(i, 2 * MiB));
    console.log(`  azure-blob: container ${source.containerName} ${blobs} blobs × 2 MB`);

    const baseBackupMs = await timed(async () => {
      for await (const item of source.listBlobsFlat()) {
        const body = (await source.getBlobClient(item.name).download()).readableStreamBody;
        if (!body) throw new Error(`download of ${item.name} has no body`);
        await pipeline(body, discard());
      }
    });
    const bare = container('bare');
    await bare.create();
    let baseRestoreMs = 0;
    for (let i = 0; i < blobs; i++) {
      const data = textBlock(i, 2 * MiB);
      baseRestoreMs += await timed(() => bare.getBlockBlobClient(blobName(i)).uploadData(data));
    }

    const tidemark = createSource({ kind: 'azure-blob', url: urlOf(source) });
    const full = await backup(tidemark, scratch, 'blob-full');
    const restored = container('r');
    const restoreMs = await restore(createSource({ kind: 'azure-blob', url: urlOf(restored) }), [full]);
    same(
      `the blobs in ${restored.containerName}`,
      await containerDigest(restored),
      await containerDigest(source),
    );

    for (let i = 0; i < blobs; i += 10)
      await source.getBlockBlobClient(blobName(i)).uploadData(textBlock(i + blobs, 2 * MiB));
    const incremental = await backup(tidemark, scratch, 'blob-incr', {
      backupId: full.backupId,
      files: full.content.files ?? [],
    });
    return [
      {
        codec: await codecTimes(full),
        label: 'azure-blob',
        raw: full.raw,
        compressed: full.compressed,
        backupMs: full.ms,
        baseBackupMs,
        restoreMs,
        baseRestoreMs,
      },
      {
        label: 'azure-blob incr 10%',
        raw: incremental.raw,
        compressed: incremental.compressed,
        backupMs: incremental.ms,
      },
    ];
  } finally {
    for (const client of containers) await client.deleteIfExists().catch(() => undefined);
    await azurite.stop();
  }
}

// ---------------------------------------------------------------- table

const BENCHES: Record<Kind, (scratch: Scratch) => Promise<Row[]>> = {
  postgres: benchPostgres,
  mysql: benchMysql,
  sqlite: benchSqlite,
  directory: benchDirectory,
  'azure-blob': benchAzureBlob,
};

const COLUMNS = [
  'kind',
  'raw MB',
  'zstd MB',
  'backup s',
  'MB/s',
  'base s',
  '× base',
  'zstd s',
  'restore s',
  'MB/s',
  'base s',
  '× base',
  'unzstd s',
  'RSS MB',
  'load',
];

function cells(row: Row, rss: { peak: number; growth: number }, load: string): string[] {
  const s = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / 1000).toFixed(1));
  const rate = (ms: number | undefined, bytes = row.raw): string =>
    ms === undefined ? '-' : (bytes / MiB / (ms / 1000)).toFixed(0);
  const ratio = (ms: number | undefined, base: number | undefined): string =>
    ms === undefined || base === undefined ? '-' : (ms / base).toFixed(2);
  return [
    row.label,
    (row.raw / MiB).toFixed(0),
    (row.compressed / MiB).toFixed(0),
    s(row.backupMs),
    rate(row.backupMs),
    s(row.baseBackupMs),
    ratio(row.backupMs, row.baseBackupMs),
    s(row.codec?.compressMs),
    s(row.restoreMs),
    rate(row.restoreMs, row.restoredBytes),
    s(row.baseRestoreMs),
    ratio(row.restoreMs, row.baseRestoreMs),
    s(row.codec?.decompressMs),
    `${(rss.peak / MiB).toFixed(0)} (+${(rss.growth / MiB).toFixed(0)})`,
    load,
  ];
}

function printTable(lines: string[][]): void {
  const widths = COLUMNS.map((title, i) =>
    Math.max(title.length, ...lines.map((line) => line[i]?.length ?? 0)),
  );
  const format = (line: string[]): string =>
    line.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  console.log(format(COLUMNS));
  for (const line of lines) console.log(format(line));
}

async function main(): Promise<void> {
  const unknown = only.filter((kind) => !(KINDS as readonly string[]).includes(kind));
  if (unknown.length > 0 || !(mb > 0)) {
    throw new Error(
      `usage: bench/sources.ts [--mb N] [--only ${KINDS.join(',')}] (got ${unknown.join(',')})`,
    );
  }
  const root = await mkdtemp(join(tmpdir(), 'tidemark-bench-sources-'));
  const lines: string[][] = [];
  const failures: string[] = [];
  console.log(
    `~${mb} MB per kind in ${root}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; peak RSS after start-up ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
  );
  try {
    for (const kind of KINDS.filter((k) => only.includes(k))) {
      const dir = join(root, kind);
      await mkdir(dir);
      const scratch: Scratch = { dir, path: (name) => join(dir, name) };
      const loadBefore = loadavg()[0]?.toFixed(1) ?? '?';
      console.log(`${kind} … (load average ${loadBefore})`);
      tidemarkRss.peak = 0;
      tidemarkRss.growth = 0;
      try {
        const rows = await BENCHES[kind](scratch);
        const load = `${loadBefore}→${loadavg()[0]?.toFixed(1) ?? '?'}`;
        for (const row of rows) lines.push(cells(row, { ...tidemarkRss }, load));
      } catch (error) {
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        failures.push(`${kind}: ${message}`);
        console.error(`  ${kind} failed: ${message}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  console.log('');
  printTable(lines);
  console.log(
    'base: the bare tool (see the top of bench/sources.ts); zstd s / unzstd s: zstd level 1 alone on the ' +
      "artifact in this process; RSS MB (+growth): highest RSS sampled while the kind's Tidemark backups and " +
      'restores ran, and the largest rise one of them caused over the RSS it started from' +
      `${gc ? ' (each started after a full GC)' : ' (run with --expose-gc to leave dataset generation out)'}; ` +
      'load: 1-minute load average before → after the kind',
  );
  console.log(
    `peak RSS of this process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB (Azurite and the tools run ` +
      `in their own processes); load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ` +
      `${process.platform} with ${cpus().length} CPUs`,
  );
  for (const failure of failures) console.log(`FAILED ${failure}`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
