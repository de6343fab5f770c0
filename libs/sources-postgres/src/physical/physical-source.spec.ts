import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { zstdDecompressSync } from 'node:zlib';
import type { BackupContent } from '@tidemark/manifest';
import { SourceError, type StreamSource, type WalSupply } from '@tidemark/source-contract';
import { PG_BIN, startScratchCluster, type ScratchCluster } from '@tidemark/testing';
import { sourceError, toFile } from '@tidemark/testing-sources';
import { postgresKind } from '../kind';

const run = promisify(execFile);

function physical(url: string): StreamSource {
  return postgresKind.create(
    { kind: 'postgres', url, options: { method: 'physical' } },
    { binDir: PG_BIN },
  ) as StreamSource;
}

/** The command lines of running pg_basebackup processes, from /proc. */
async function basebackupCommandLines(): Promise<string[]> {
  const lines: string[] = [];
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const line = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (line.includes('pg_basebackup')) lines.push(line.split('\0').join(' '));
  }
  return lines;
}

/** The source cluster's pg_wal as the archive (the cluster keeps its segments: wal_keep_size). */
function pgWal(cluster: ScratchCluster, fetched: string[] = []): WalSupply {
  return {
    fetch: async (request, destination) => {
      fetched.push(request.file);
      await copyFile(join(cluster.dataDir, 'pg_wal', request.file), destination).catch(() => {
        throw new SourceError('wal-missing', `${request.file} is not archived yet`);
      });
    },
  };
}

/** Whether any process runs with its working directory (a postmaster's is its data directory) under `dir`. */
async function processesUnder(dir: string): Promise<number> {
  let found = 0;
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (cwd.startsWith(dir)) found += 1;
  }
  return found;
}

describe('PostgresPhysicalSource against a scratch cluster', () => {
  let cluster: ScratchCluster;
  let work: string;
  let tarPath: string;
  let content: BackupContent;

  before(async () => {
    cluster = await startScratchCluster({ settings: ['wal_keep_size = 1GB'] });
    work = await mkdtemp(join(tmpdir(), 'tidemark-physical-'));
    await chmod(work, 0o755); // restore tests start a server as postgres under it
    await cluster.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
    await cluster.query("INSERT INTO orders SELECT g, 'note ' || g FROM generate_series(1, 1000) g");
    tarPath = join(work, 'base.tar');
    const handle = await physical(cluster.replicationUrl).dump({ backupId: 'b1', workDir: work });
    // pg_basebackup waits on the unread pipe, so it is still running here.
    const commandLines = await basebackupCommandLines();
    assert.ok(commandLines.length > 0, 'pg_basebackup is running');
    for (const line of commandLines) assert.ok(!line.includes(cluster.replicationPassword), line);
    await toFile(handle.stdout, tarPath);
    await handle.finished;
    content = await handle.content;
  });

  after(async () => {
    await cluster.remove();
    await rm(work, { recursive: true, force: true });
  });

  test('preCheck reports the server, pg_basebackup and the cluster size', async () => {
    const info = await physical(cluster.replicationUrl).preCheck();
    assert.equal(info.serverMajor, 15);
    assert.match(info.dumpTool, /^pg_basebackup 15\./);
    assert.ok(info.estimatedBytes > 1_000_000, String(info.estimatedBytes));
  });

  test("the dump's content describes the base backup from backup_label and backup_manifest", async () => {
    const [row] = await cluster.query<{ id: string }>(
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    const backup = content.physical;
    assert.ok(backup);
    assert.deepEqual(content.tables, []);
    assert.equal(backup.timeline, 1);
    assert.equal(backup.systemIdentifier, row?.id);
    assert.equal(backup.walSegmentBytes, 16 * 1024 * 1024);
    assert.ok(backup.databases.includes('postgres'));
    const lsn = (text: string): bigint => {
      const [high = '0', low = '0'] = text.split('/');
      return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
    };
    assert.ok(lsn(backup.startLsn) <= lsn(backup.stopLsn), `${backup.startLsn} .. ${backup.stopLsn}`);
    assert.ok(Array.isArray(backup.backupManifest['Files']));
    assert.ok(Date.parse(backup.startedAt) <= Date.parse(backup.stoppedAt));
  });

  test('for a zstd artifact pg_basebackup compresses: a zstd stream of the same tar, its raw size, the same facts', async () => {
    const handle = await physical(cluster.replicationUrl).dump({
      backupId: 'b2',
      workDir: work,
      compression: 'zstd',
    });
    assert.ok(handle.precompressed, 'the handle says the stream is compressed');
    const compressed = join(work, 'base.tar.zst');
    await toFile(handle.stdout, compressed);
    await handle.finished;
    const zstdContent = await handle.content;
    const bytes = await readFile(compressed);
    assert.equal(bytes.readUInt32LE(0), 0xfd2fb528, 'a zstd frame');
    const tar = zstdDecompressSync(bytes);
    // As GNU tar counts it: whole 10 KiB records.
    const raw = handle.precompressed.rawBytes();
    assert.ok(raw >= tar.length && raw < tar.length + 10240, `${raw} for a tar of ${tar.length}`);
    assert.equal(zstdContent.physical?.systemIdentifier, content.physical?.systemIdentifier);
    assert.ok(Array.isArray(zstdContent.physical?.backupManifest['Files']));
    const result = await physical(cluster.replicationUrl).checkStructure(Readable.from([tar]));
    assert.equal(result.ok, true, result.detail);
    // The source unpacks it still compressed (GNU tar with zstd), into a data directory pg_verifybackup accepts.
    const source = physical(cluster.replicationUrl);
    assert.equal(source.unpacks?.includes('zstd'), true);
    const dir = join(work, 'restored-from-zstd');
    await physical(dir).restore(createReadStream(compressed), { clean: false, compression: 'zstd' });
    await run(`${PG_BIN}/pg_verifybackup`, ['--no-parse-wal', dir]);
    // A truncated stream fails the restore and leaves nothing at the destination.
    const cut = join(work, 'restored-from-cut');
    await assert.rejects(
      physical(cut).restore(Readable.from([bytes.subarray(0, bytes.length >> 1)]), {
        clean: false,
        compression: 'zstd',
      }),
      sourceError('restore-failed'),
    );
    await assert.rejects(readdir(cut), { code: 'ENOENT' });
  });

  test('checkStructure finds backup_label, pg_control and backup_manifest', async () => {
    const result = await physical(cluster.replicationUrl).checkStructure(createReadStream(tarPath));
    assert.equal(result.ok, true, result.detail);
    assert.ok(result.entries > 100);
  });

  test('restore creates a data directory pg_verifybackup accepts, and refuses a non-empty one', async () => {
    const dir = join(work, 'restored');
    await physical(dir).restore(createReadStream(tarPath), { clean: false });
    await run(`${PG_BIN}/pg_verifybackup`, ['--no-parse-wal', dir]);
    await assert.rejects(
      physical(dir).restore(createReadStream(tarPath), { clean: false }),
      sourceError('target-not-empty'),
    );
  });

  test('restoreTest passes, and fails its pg_verifybackup check for a flipped byte in a data file', async () => {
    const scratch = { name: 'scratch-1', dir: work };
    const ok = await physical(cluster.replicationUrl).restoreTest(
      createReadStream(tarPath),
      content,
      scratch,
    );
    assert.equal(ok.ok, true, JSON.stringify(ok.checks));
    assert.deepEqual(
      ok.checks.map((check) => check.name),
      ['pg_verifybackup', 'system identifier'],
    );

    const damaged = join(work, 'damaged');
    await physical(damaged).restore(createReadStream(tarPath), { clean: false });
    const file = join(damaged, 'base', '1', '1259');
    const bytes = await readFile(file);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const damagedTar = join(work, 'damaged.tar');
    await run('tar', ['-cf', damagedTar, '-C', damaged, '.']);
    const bad = await physical(cluster.replicationUrl).restoreTest(
      createReadStream(damagedTar),
      content,
      scratch,
    );
    assert.equal(bad.ok, false);
    assert.equal(bad.checks.find((check) => check.name === 'pg_verifybackup')?.ok, false);
    assert.deepEqual(await readdir(work).then((names) => names.includes('scratch-1')), false);
  });

  test('restoreTest with the WAL archive recovers the copy, connects to every database and counts every table', async () => {
    const fetched: string[] = [];
    const result = await physical(cluster.replicationUrl).restoreTest(createReadStream(tarPath), content, {
      name: 'scratch-wal',
      dir: work,
      wal: pgWal(cluster, fetched),
    });
    assert.equal(result.ok, true, JSON.stringify(result.checks));
    const names = result.checks.map((check) => check.name);
    assert.deepEqual(names.slice(0, 3), ['pg_verifybackup', 'system identifier', 'recovery']);
    for (const database of content.physical?.databases ?? [])
      assert.ok(names.includes(`database ${database} connects`), database);
    assert.deepEqual(
      result.checks.find((check) => check.name === 'rows postgres.public.orders'),
      { name: 'rows postgres.public.orders', ok: true, actual: 1000 },
    );
    assert.ok(fetched.length >= 1 && fetched.every((file) => /^[0-9A-F]{24}$/.test(file)), fetched.join());
    assert.equal(await readdir(work).then((entries) => entries.includes('scratch-wal')), false);
    assert.equal(await processesUnder(join(work, 'scratch-wal')), 0);
  });

  test('restoreTest rejects with wal-missing while the archive lacks a segment, and removes the scratch', async () => {
    const missing: WalSupply = {
      fetch: (request) =>
        Promise.reject(new SourceError('wal-missing', `${request.file} is not archived yet`)),
    };
    await assert.rejects(
      physical(cluster.replicationUrl).restoreTest(createReadStream(tarPath), content, {
        name: 'scratch-missing',
        dir: work,
        wal: missing,
      }),
      sourceError('wal-missing'),
    );
    assert.equal(await readdir(work).then((entries) => entries.includes('scratch-missing')), false);
  });

  test('restoreTest fails its recovery check when the archived WAL cannot be replayed, and stops the server', async () => {
    // Right size, wrong bytes: what a damaged archive would hand over after its checksum was (wrongly) accepted.
    const garbage: WalSupply = {
      fetch: (_request, destination) => writeFile(destination, Buffer.alloc(16 * 1024 * 1024, 0x5a)),
    };
    const result = await physical(cluster.replicationUrl).restoreTest(createReadStream(tarPath), content, {
      name: 'scratch-garbage',
      dir: work,
      wal: garbage,
    });
    assert.equal(result.ok, false);
    const recovery = result.checks.find((check) => check.name === 'recovery');
    assert.equal(recovery?.ok, false, JSON.stringify(result.checks));
    assert.match(recovery.detail ?? '', /PANIC|FATAL/);
    assert.equal(await readdir(work).then((entries) => entries.includes('scratch-garbage')), false);
    assert.equal(await processesUnder(join(work, 'scratch-garbage')), 0);
  });

  test('a cluster with a second tablespace fails preCheck with invalid-settings', async () => {
    // The server (run as postgres) must own the location; the work directory is this process's own.
    const location = await mkdtemp(join(tmpdir(), 'tidemark-space-'));
    if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', location]);
    await cluster.query(`CREATE TABLESPACE extra LOCATION '${location}'`);
    try {
      await assert.rejects(
        physical(cluster.replicationUrl).preCheck(),
        sourceError('invalid-settings', /tablespace extra/),
      );
    } finally {
      await cluster.query('DROP TABLESPACE extra');
      await rm(location, { recursive: true, force: true });
    }
  });

  test('a role without REPLICATION fails preCheck saying how to grant it', async () => {
    await assert.rejects(
      physical(cluster.plainUrl).preCheck(),
      sourceError('source-auth', /ALTER ROLE .* REPLICATION/),
    );
  });
});
