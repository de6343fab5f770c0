import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { uniqueName, waitFor } from '@tidemark/testing';
import { createSeededDatabase, dbUrl, dropDatabase, tableChecksums } from './support/database';
import { TestStack } from './support/stack';
import { containerState, mysqlTables, mysqlUrl, treeOf, withMysql } from './support/stores';

const CONFIG = `
storage: { container: e2e-kinds }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  nightly:
    schedule: "0 3 * * *"
    compression: zstd
    verify: { restoreTest: true }
  tight:
    schedule: "0 3 * * *"
    compression: zstd
    retention: { remote: { keepLast: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
    verify: { restoreTest: true }
targets:
  - { id: shop-mysql, kind: mysql, url: "\${MY_URL}", policy: nightly }
  - { id: app-sqlite, kind: sqlite, url: "\${LITE_PATH}", policy: nightly }
  - { id: laura-dir, kind: directory, url: "\${DIR_PATH}", policy: tight, exclude: ["*.tmp", "*.lock"], incremental: { fullEvery: 7 } }
  - { id: media, kind: azure-blob, url: "\${MEDIA_URL}", policy: nightly, incremental: { fullEvery: 3 } }
  - { id: pg-server, kind: postgres, url: "\${PG_SERVER_URL}", policy: nightly, databases: [__PG_A__, __PG_B__], jobs: 2 }
`;

interface BackupOutput {
  backupId: string;
  status: string;
  manifest?: Manifest;
}

/** One writer per store keeps writing while the backups run: the backup must describe one consistent moment. */
function writer(work: () => Promise<void> | void): { stop: () => Promise<number> } {
  const state = { on: true };
  let writes = 0;
  const loop = (async () => {
    while (state.on) {
      await work();
      writes++;
      await sleep(2);
    }
  })();
  return {
    stop: async () => {
      state.on = false;
      await loop;
      return writes;
    },
  };
}

describe('every kind of store, end to end through the five services', () => {
  const suffix = uniqueName('k').replaceAll('-', '_');
  const myDb = `e2e_my_${suffix}`;
  const myRestored = `e2e_my_dst_${suffix}`;
  const pgA = `e2e_pga_${suffix}`;
  const pgB = `e2e_pgb_${suffix}`;
  const pgOne = `e2e_pgone_${suffix}`;
  let stack: TestStack;
  let work: string;
  let media: ContainerClient;

  const backup = async (target: string): Promise<BackupOutput> => {
    const result = await stack.cli(['backup', target, '--wait', '--json', '--timeout', '300']);
    const output = JSON.parse(result.stdout) as BackupOutput;
    if (output.status !== 'verified') {
      const shown = await stack.cli(['show', output.backupId]);
      const events = await stack.cli(['events', '--json']);
      const failure = events.stdout
        .split('\n')
        .find((line) => line.includes(output.backupId) && line.includes('failed'));
      assert.fail(
        `backup of ${target} ended ${output.status}: ${failure ?? ''} ${shown.stdout.slice(0, 3000)}`,
      );
    }
    return output;
  };
  const show = async (backupId: string): Promise<Manifest> => {
    const shown = await stack.cli(['show', backupId]);
    assert.equal(shown.code, 0, shown.stderr);
    return parseManifest(JSON.parse(shown.stdout));
  };
  const eventTypes = async (backupId: string): Promise<string[]> => {
    const result = await stack.cli(['events', '--json', '--limit', '1000']);
    return result.stdout
      .split('\n')
      .filter((line) => line.includes(`"backupId":"${backupId}"`))
      .map((line) => (JSON.parse(line) as { type: string }).type);
  };
  const restore = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> => {
    const result = await stack.cli(['restore', ...args, '--json'], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
  };

  before(async () => {
    const pgServer = 'postgres://postgres@127.0.0.1:5432/postgres';
    await Promise.all([createSeededDatabase(pgA), createSeededDatabase(pgB)]);
    await withMysql(undefined, (c) => c.query(`CREATE DATABASE ${myDb}`));
    const config = CONFIG.replace('__PG_A__', pgA).replace('__PG_B__', pgB);
    work = await mkdtemp(join(tmpdir(), 'tidemark-kinds-'));
    stack = await TestStack.start({
      config,
      redisDb: 4,
      env: {
        MY_URL: mysqlUrl(myDb),
        LITE_PATH: join(work, 'app.db'),
        DIR_PATH: join(work, 'laura'),
        MEDIA_URL: '__AZURITE__;Container=media',
        PG_SERVER_URL: pgServer,
      },
    });
    media = BlobServiceClient.fromConnectionString(stack.azurite.connectionString).getContainerClient(
      'media',
    );
    await media.create();
  });

  after(async () => {
    await stack.stop();
    await rm(work, { recursive: true, force: true });
    await withMysql(undefined, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${myDb}; DROP DATABASE IF EXISTS ${myRestored}`),
    );
    await Promise.all([dropDatabase(pgA), dropDatabase(pgB), dropDatabase(pgOne)]);
  });

  test('MariaDB: a backup taken while rows are inserted restores into a new database exactly as recorded', async () => {
    await withMysql(myDb, (c) =>
      c.query(`
        CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200), payload BLOB);
        CREATE TABLE events (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6), note TEXT);
        CREATE TABLE empty_one (id INT PRIMARY KEY);
        INSERT INTO items SELECT seq, CONCAT('it''s (', seq, '),(\\\\ ";'), RANDOM_BYTES(64) FROM seq_1_to_5000;
        INSERT INTO events (at, note) SELECT NOW(6), REPEAT('x', 200) FROM seq_1_to_20000;
        CREATE VIEW item_names AS SELECT name FROM items;`),
    );
    const before = await mysqlTables(myDb);
    const inserts = writer(() =>
      withMysql(myDb, (c) =>
        c.query("INSERT INTO events (at, note) VALUES (NOW(6), 'during the backup')"),
      ).then(() => undefined),
    );
    let output: BackupOutput;
    try {
      output = await backup('shop-mysql');
    } finally {
      assert.ok((await inserts.stop()) > 0, 'rows were written during the backup');
    }
    const manifest = await show(output.backupId);
    assert.equal(manifest.artifact.format, 'mysqldump-sql');
    assert.equal(manifest.verification?.restoreTest?.ok, true);
    const recorded = Object.fromEntries(manifest.content.tables.map((t) => [t.name, t.rows]));
    assert.equal(recorded['items'], 5000);
    assert.equal(recorded['empty_one'], 0);
    assert.ok((recorded['events'] ?? 0) >= 20_000);

    await restore(['shop-mysql', '--to', '${RESTORE_URL}'], { RESTORE_URL: mysqlUrl(myRestored) });
    const restored = await mysqlTables(myRestored);
    assert.deepEqual(
      Object.fromEntries(Object.entries(restored).map(([name, t]) => [name, t.rows])),
      recorded,
      'restored row counts are the ones the backup recorded',
    );
    assert.equal(restored['items']?.checksum, before['items']?.checksum, 'untouched table identical');
    const views = await withMysql(myRestored, (c) => c.query('SELECT COUNT(*) AS n FROM item_names'));
    assert.equal(Number((views[0] as { n: number }[])[0]?.n), 5000);
  });

  test('SQLite: an online copy taken under writes restores to a new file with the recorded rows', async () => {
    const path = join(work, 'app.db');
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA journal_mode=WAL;
      CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, data BLOB);
      CREATE TABLE log (id INTEGER PRIMARY KEY, at TEXT);
      CREATE INDEX notes_body ON notes(body);`);
    const insert = db.prepare('INSERT INTO notes (body, data) VALUES (?, ?)');
    db.exec('BEGIN');
    for (let i = 0; i < 20_000; i++) insert.run(`note ${i} ${'y'.repeat(100)}`, randomBytes(32));
    db.exec('COMMIT');
    const staticNotes = db.prepare('SELECT group_concat(body, char(10)) AS all_bodies FROM notes').get();
    const log = db.prepare('INSERT INTO log (at) VALUES (?)');
    const writes = writer(() => {
      log.run(new Date().toISOString());
    });
    let output: BackupOutput;
    try {
      output = await backup('app-sqlite');
    } finally {
      assert.ok((await writes.stop()) > 0);
      db.close();
    }
    const manifest = await show(output.backupId);
    assert.equal(manifest.artifact.format, 'sqlite-db');
    assert.equal(manifest.verification?.restoreTest?.ok, true);
    const restoredPath = join(work, 'restored.db');
    await restore(['app-sqlite', '--to', restoredPath]);
    const restored = new DatabaseSync(restoredPath, { readOnly: true });
    try {
      assert.equal(
        (restored.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check,
        'ok',
      );
      for (const table of manifest.content.tables) {
        const row = restored.prepare(`SELECT count(*) AS n FROM "${table.name}"`).get() as { n: number };
        assert.equal(row.n, table.rows, `rows of ${table.name}`);
      }
      assert.deepEqual(
        restored.prepare('SELECT group_concat(body, char(10)) AS all_bodies FROM notes').get(),
        staticNotes,
      );
    } finally {
      restored.close();
    }
  });

  test('a data directory chain of 1 full + 5 incrementals restores to each of its 6 points exactly', async () => {
    const dir = join(work, 'laura');
    await mkdir(join(dir, 'segments'), { recursive: true });
    await mkdir(join(dir, 'empty'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(dir, 'segments', `seg-${i}.dat`), randomBytes(50_000));
    await writeFile(join(dir, 'MANIFEST'), 'v1\n');
    await symlink('segments/seg-0.dat', join(dir, 'current'));

    const changes: (() => Promise<void>)[] = [
      async () => {
        await writeFile(join(dir, 'write.lock'), 'pid 1');
      },
      async () => {
        await appendFile(join(dir, 'MANIFEST'), 'v2\n');
        await writeFile(join(dir, 'segments', 'seg-20.dat'), randomBytes(40_000));
      },
      async () => {
        await rm(join(dir, 'segments', 'seg-3.dat'));
        await writeFile(join(dir, 'scratch.tmp'), 'ignored');
      },
      async () => {
        // Same bytes, new mtime: must not be shipped again.
        const later = new Date(Date.now() + 60_000);
        await utimes(join(dir, 'segments', 'seg-5.dat'), later, later);
        await writeFile(join(dir, 'segments', 'seg-6.dat'), randomBytes(50_000));
      },
      async () => {
        await writeFile(join(dir, 'MANIFEST'), 'v1\n');
        await mkdir(join(dir, 'archive', 'deep'), { recursive: true });
        await writeFile(join(dir, 'archive', 'deep', `${'long-name-'.repeat(12)}.dat`), randomBytes(1000));
      },
    ];
    const points: { backupId: string; tree: Awaited<ReturnType<typeof treeOf>> }[] = [];
    for (let i = 0; i < 6; i++) {
      if (i > 0) await changes[i - 1]?.();
      const snapshot = join(work, `laura-snapshot-${i}`);
      await cp(dir, snapshot, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      const tree = Object.fromEntries(
        Object.entries(await treeOf(snapshot)).filter(([path]) => !/\.(tmp|lock)$/.test(path)),
      );
      points.push({ backupId: (await backup('laura-dir')).backupId, tree });
    }
    const manifests = await Promise.all(points.map((p) => show(p.backupId)));
    assert.deepEqual(
      manifests.map((m) => m.chain?.position),
      [0, 1, 2, 3, 4, 5],
    );
    assert.ok(manifests.every((m) => m.chain?.base === points[0]?.backupId));
    // The mtime-only change ships nothing for seg-5; the new seg-6 comes from the fifth backup.
    const fifth = manifests[4]?.content.files ?? [];
    assert.equal(fifth.find((f) => f.path === 'segments/seg-5.dat')?.in, points[0]?.backupId);
    assert.equal(fifth.find((f) => f.path === 'segments/seg-6.dat')?.in, points[4]?.backupId);
    assert.ok(
      (manifests[4]?.artifact.rawSize ?? 0) < (manifests[0]?.artifact.rawSize ?? 0) / 5,
      'an incremental carries only what changed',
    );

    for (const [index, point] of points.entries()) {
      const into = join(work, `laura-restored-${index}`);
      await restore(['laura-dir', '--backup', point.backupId, '--to', into]);
      assert.deepEqual(await treeOf(into), point.tree, `point ${index} restores exactly`);
    }
    // keepLast 1 keeps only the newest point by policy, and with it the whole chain it is rebuilt from.
    const plan = await stack.cli(['retention', 'plan', 'laura-dir', '--json']);
    assert.equal(plan.code, 0, plan.stderr);
    const planned = (
      JSON.parse(plan.stdout) as { backups: { backupId: string; action: string; reasons: string[] }[] }
    ).backups;
    const last = points[5]?.backupId ?? '';
    assert.deepEqual(
      planned.map((b) => `${b.action}:${b.reasons.join(',')}`),
      [...points.slice(0, 5).map(() => `keep:chain of ${last}`), 'keep:newest verified,keepLast'],
    );
    const applied = await stack.cli(['retention', 'apply', 'laura-dir', '--json']);
    assert.equal(applied.code, 0, applied.stderr);
    const listed = await stack.cli(['list', 'laura-dir', '--json']);
    const rows = JSON.parse(listed.stdout) as { type: string }[];
    assert.deepEqual(
      rows.map((r) => r.type),
      ['full', 'incr 1', 'incr 2', 'incr 3', 'incr 4', 'incr 5'],
    );

    // Blob Storage down: the incremental that would come next needs the catalog, so a full is taken instead and
    // the dump still completes locally; it is uploaded and verified when Blob Storage returns.
    await stack.azurite.stop();
    let offline = '';
    try {
      const started = await stack.cli(['backup', 'laura-dir', '--json']);
      assert.equal(started.code, 0, started.stderr);
      offline = (JSON.parse(started.stdout) as { backupId: string }).backupId;
      await waitFor(async () => (await eventTypes(offline)).includes('tidemark.backup.dumped'), {
        timeoutMs: 60_000,
        intervalMs: 300,
        what: 'the directory dump to finish while Blob Storage is down',
      });
    } finally {
      await stack.azurite.start();
    }
    await waitFor(async () => (await eventTypes(offline)).includes('tidemark.backup.verified'), {
      timeoutMs: 180_000,
      intervalMs: 500,
      what: 'the offline full to be verified once Blob Storage is back',
    });
    assert.deepEqual((await show(offline)).chain, { base: offline, parent: null, position: 0 });
  });

  test('an Azure Blob container is copied incrementally and restored as it was at each point', async () => {
    const put = async (name: string, body: Buffer | string, contentType = 'application/octet-stream') => {
      await media
        .getBlockBlobClient(name)
        .uploadData(Buffer.from(body), { blobHTTPHeaders: { blobContentType: contentType } });
    };
    for (let i = 0; i < 10; i++) await put(`photos/2026/img-${i}.jpg`, randomBytes(200_000), 'image/jpeg');
    await put('docs/read me.txt', 'hello', 'text/plain');
    await put('empty', '');
    const states: Record<string, string>[] = [];
    const ids: string[] = [];

    const uploads = writer(async () => {
      await put('live/counter.txt', String(Date.now()), 'text/plain');
    });
    try {
      ids.push((await backup('media')).backupId);
    } finally {
      await uploads.stop();
    }
    // The writer's last value may postdate the backup; the listing says what the backup holds.
    const first = await show(ids[0] ?? '');
    assert.equal(first.verification?.restoreTest?.ok, true);

    await put('photos/2026/img-0.jpg', randomBytes(100_000), 'image/jpeg');
    await put('docs/new.txt', 'new', 'text/plain');
    await media.getBlobClient('photos/2026/img-9.jpg').delete();
    states.push(await containerState(media));
    ids.push((await backup('media')).backupId);
    const second = await show(ids[1] ?? '');
    assert.equal(second.chain?.position, 1);
    assert.equal(second.chain.parent, ids[0]);
    // live/counter.txt may have been written after the first listing; it is shipped then, rightly.
    const shipped = (second.content.files ?? [])
      .filter((f) => f.in === ids[1] && !f.path.startsWith('live/'))
      .map((f) => f.path)
      .sort();
    assert.deepEqual(shipped, ['docs/new.txt', 'photos/2026/img-0.jpg']);

    const restoredConnection = `${stack.azurite.connectionString};Container=media-restored`;
    await restore(['media', '--backup', ids[1] ?? '', '--to', '${MEDIA_RESTORE}'], {
      MEDIA_RESTORE: restoredConnection,
    });
    const restored = BlobServiceClient.fromConnectionString(
      stack.azurite.connectionString,
    ).getContainerClient('media-restored');
    assert.deepEqual(await containerState(restored), states[0]);

    // The first point, restored over the same container with --clean: blobs added later disappear.
    await restore(['media', '--backup', ids[0] ?? '', '--to', '${MEDIA_RESTORE}', '--clean'], {
      MEDIA_RESTORE: restoredConnection,
    });
    const atFirst = await containerState(restored);
    assert.deepEqual(
      Object.keys(atFirst).sort(),
      (first.content.files ?? [])
        .filter((f) => f.type === 'file')
        .map((f) => f.path)
        .sort(),
    );
    assert.equal(atFirst['docs/new.txt'], undefined);
  });

  test('a PostgreSQL server target backs up each database and the roles as one run, and restores one or all', async () => {
    const beforeA = await tableChecksums(dbUrl(pgA));
    const beforeB = await tableChecksums(dbUrl(pgB));
    const result = await stack.cli(['backup', 'pg-server', '--wait', '--json', '--timeout', '300']);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const run = JSON.parse(result.stdout) as {
      runId: string;
      status: string;
      members: { database: string | null; role: string; status: string; backupId: string }[];
    };
    assert.equal(run.status, 'verified');
    assert.deepEqual(run.members.map((m) => `${m.role}:${m.database ?? '-'}:${m.status}`).sort(), [
      `database:${pgA}:verified`,
      `database:${pgB}:verified`,
      'globals:-:verified',
    ]);

    // jobs: 2 takes each database in directory format, as a tar of its table files.
    const member = await show(run.members.find((m) => m.database === pgA)?.backupId ?? '');
    assert.equal(member.artifact.format, 'pg_dump-directory-tar');
    assert.equal(member.verification?.restoreTest?.ok, true);
    const missing = await stack.cli(['restore', 'pg-server', '--to', dbUrl(pgOne)]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /backs up several databases .*--database/);

    await restore(['pg-server', '--database', pgA, '--to', dbUrl(pgOne)]);
    assert.deepEqual(await tableChecksums(dbUrl(pgOne)), beforeA);

    // Disaster: both databases are gone; the whole run comes back, each under its own name.
    await Promise.all([dropDatabase(pgA), dropDatabase(pgB)]);
    await restore(['pg-server', '--all-databases', '--to', 'postgres://postgres@127.0.0.1:5432/postgres']);
    assert.deepEqual(await tableChecksums(dbUrl(pgA)), beforeA);
    assert.deepEqual(await tableChecksums(dbUrl(pgB)), beforeB);
  });

  test('targets and list show every kind', async () => {
    const targets = await stack.cli(['targets', '--json']);
    assert.equal(targets.code, 0, targets.stderr);
    const rows = JSON.parse(targets.stdout) as {
      target: string;
      kind: string;
      lastVerified: string | null;
    }[];
    assert.deepEqual(
      rows.map((r) => `${r.target}:${r.kind}:${r.lastVerified ? 'verified' : 'none'}`),
      [
        'shop-mysql:mysql:verified',
        'app-sqlite:sqlite:verified',
        'laura-dir:directory:verified',
        'media:azure-blob:verified',
        'pg-server:postgres:verified',
      ],
    );
    const list = await stack.cli(['list', '--json']);
    const kinds = new Set((JSON.parse(list.stdout) as { kind: string }[]).map((r) => r.kind));
    assert.deepEqual([...kinds].sort(), ['azure-blob', 'directory', 'mysql', 'postgres', 'sqlite']);
    assert.doesNotMatch(list.stdout + targets.stdout, /AccountKey|password/i);
  });

  test('a damaged blob restores nothing: every kind leaves its destination exactly as it was', async () => {
    const container = BlobServiceClient.fromConnectionString(
      stack.azurite.connectionString,
    ).getContainerClient('e2e-kinds');
    const newest = async (target: string): Promise<Manifest> => {
      const listed = JSON.parse((await stack.cli(['list', target, '--json'])).stdout) as {
        backupId: string;
        status: string;
      }[];
      const last = listed.filter((row) => row.status === 'verified').at(-1);
      assert.ok(last, `a verified backup of ${target}`);
      return show(last.backupId);
    };
    /** Flips one byte of the blob holding `manifest`'s (or, for a chain, its full's) bytes. */
    const damage = async (manifest: Manifest): Promise<void> => {
      const holder = manifest.chain ? await show(manifest.chain.base) : manifest;
      const blob = container.getBlockBlobClient(holder.locations.remote?.blobName ?? '');
      const props = await blob.getProperties();
      const data = await blob.downloadToBuffer();
      const at = Math.floor(data.length * 0.6);
      data[at] = (data[at] ?? 0) ^ 0x01;
      await blob.uploadData(data, { metadata: props.metadata ?? {} });
    };
    const refused = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> => {
      const result = await stack.cli(['restore', ...args, '--clean'], env);
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stderr, /^tidemark: .*(checksum|sha256|mismatch)/i);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    };
    const myTarget = `e2e_my_bad_${suffix}`;
    const lite = join(work, 'damaged.db');
    const dir = join(work, 'laura-damaged');
    const blobs = `${stack.azurite.connectionString};Container=media-damaged`;
    const restoredBlobs = BlobServiceClient.fromConnectionString(
      stack.azurite.connectionString,
    ).getContainerClient('media-damaged');
    const kinds = [
      {
        target: 'shop-mysql',
        to: '${BAD_URL}',
        env: { BAD_URL: mysqlUrl(myTarget) },
        state: () => mysqlTables(myTarget),
      },
      {
        target: 'app-sqlite',
        to: lite,
        env: {},
        state: () => readFile(lite).then((b) => createHash('sha256').update(b).digest('hex')),
      },
      { target: 'laura-dir', to: dir, env: {}, state: () => treeOf(dir) },
      {
        target: 'media',
        to: '${BAD_BLOBS}',
        env: { BAD_BLOBS: blobs },
        state: () => containerState(restoredBlobs),
      },
    ];
    try {
      for (const kind of kinds) {
        const manifest = await newest(kind.target);
        await restore([kind.target, '--backup', manifest.backupId, '--to', kind.to], kind.env);
        const before = await kind.state();
        await damage(manifest);
        await refused([kind.target, '--backup', manifest.backupId, '--to', kind.to], kind.env);
        assert.deepEqual(await kind.state(), before, `${kind.target}: the destination is as it was`);
      }
    } finally {
      await withMysql(undefined, (c) => c.query(`DROP DATABASE IF EXISTS ${myTarget}`));
    }
  });
});
