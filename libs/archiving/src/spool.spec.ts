import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { MemoryBlobStore } from '@tidemark/in-memory';
import { type ScratchCluster, startScratchCluster, waitFor } from '@tidemark/testing';
import { parseSegmentFileName } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { archiveCommand, archiveCommandSettings, type ShippedFile, SpoolWatcher } from './index';

const run = promisify(execFile);
const SEGMENT_BYTES = 1 << 20;
const TARGET = 'spooled';

/** Runs a shell line as the server would (as postgres when root), in `cwd`; resolves to its exit code. */
async function shellAsPostgres(line: string, cwd: string): Promise<number> {
  const [file, args] =
    process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', 'sh', '-c', line]] : ['sh', ['-c', line]];
  try {
    await run(file, args, { cwd });
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

describe('the archive-command route (real PostgreSQL 15 with archive_mode = on)', () => {
  let cluster: ScratchCluster;
  let spool: string;
  let store: MemoryBlobStore;
  let archive: WalArchive;
  let watcher: SpoolWatcher;
  const shipped: ShippedFile[] = [];
  const failures: { file: string; attempts: number }[] = [];
  let table = 0;

  const switchWal = async (times: number) => {
    for (let i = 0; i < times; i++) {
      table++;
      await cluster.query(`CREATE TABLE t${String(table)} AS SELECT generate_series(1, 2000) AS n`);
      await cluster.query('SELECT pg_switch_wal()');
    }
  };
  const archivedSegments = async () =>
    (await archive.list(TARGET)).filter((file) => file.kind === 'segment').map((file) => file.file);
  const walInSpool = async () =>
    (await readdir(spool)).filter((name) => parseSegmentFileName(name, SEGMENT_BYTES) !== null);

  before(async () => {
    spool = await mkdtemp(join(tmpdir(), 'tidemark-spool-'));
    if (process.getuid?.() === 0) {
      const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
      await chown(spool, uid, gid);
    }
    await chmod(spool, 0o770);
    cluster = await startScratchCluster({ walSegmentMiB: 1, settings: archiveCommandSettings(spool) });
    store = new MemoryBlobStore();
    archive = new WalArchive(store);
    watcher = new SpoolWatcher({
      targetId: TARGET,
      spool,
      sink: archive,
      pollMs: 100,
      retryBaseMs: 100,
      onShipped: (batch) => shipped.push(...batch),
      onFailure: (file, attempts) => failures.push({ file, attempts }),
    });
  });
  after(async () => {
    await watcher.stop({ ship: false });
    await cluster.remove();
    await rm(spool, { recursive: true, force: true });
  });

  test('prints the postgresql.conf lines: a copy to a dot-file, renamed into place, idempotent', () => {
    assert.deepEqual(archiveCommandSettings('/var/spool/wal/'), [
      'archive_mode = on',
      "archive_command = 'test ! -f /var/spool/wal/%f && cp %p /var/spool/wal/.%f.tmp && sync /var/spool/wal/.%f.tmp && mv /var/spool/wal/.%f.tmp /var/spool/wal/%f || cmp -s %p /var/spool/wal/%f'",
    ]);
  });

  test("the server's archive_command fills the spool; the watcher commits each segment and only then removes it", async () => {
    // Before the watcher runs, the server's copies wait whole in the spool (no temp file left behind).
    await switchWal(2);
    await waitFor(async () => (await walInSpool()).length >= 2, {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'WAL in the spool',
    });
    assert.deepEqual(
      (await readdir(spool)).filter((name) => name.startsWith('.')),
      [],
    );
    await watcher.start();
    await switchWal(3);
    await waitFor(async () => (await archivedSegments()).length >= 5, {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: '5 segments in the archive',
    });
    await watcher.stop({ ship: true });
    const archived = await archivedSegments();
    for (const name of await walInSpool())
      assert.ok(!archived.includes(name), `${name} left in the spool after its commit`);
    const files = await archive.list(TARGET);
    assert.ok(files.every((file) => file.metadata?.route === 'spool'));
    assert.ok(shipped.every((file) => file.route === 'spool' && file.kind === 'segment'));
    const first = archived[0] as string;
    const segno = parseSegmentFileName(first, SEGMENT_BYTES)?.segno ?? 0n;
    const report = await archive.checkContinuity(
      TARGET,
      { timeline: 1, lsn: `0/${(segno * BigInt(SEGMENT_BYTES)).toString(16).toUpperCase()}` },
      { segmentBytes: SEGMENT_BYTES, verifyChecksums: true },
    );
    assert.deepEqual(report.problems, []);
    const stats = await cluster.query<{ failed_count: string }>(
      'SELECT failed_count::text FROM pg_stat_archiver',
    );
    assert.equal(stats[0]?.failed_count, '0', 'the server never saw its archive_command fail');
  });

  test('archive_command is idempotent for the same bytes and refuses different ones', async () => {
    const name = '000000010000000000000099';
    const source = join(cluster.dataDir, 'pg_wal', name);
    const data = Buffer.alloc(SEGMENT_BYTES, 7);
    await writeFile(source, data);
    await chmod(source, 0o644);
    const line = archiveCommand(spool).replaceAll('%p', `pg_wal/${name}`).replaceAll('%f', name);
    assert.equal(await shellAsPostgres(line, cluster.dataDir), 0);
    assert.equal(await shellAsPostgres(line, cluster.dataDir), 0, 'the same file again is success');
    await writeFile(source, Buffer.alloc(SEGMENT_BYTES, 8));
    assert.notEqual(await shellAsPostgres(line, cluster.dataDir), 0, 'other bytes under the same name fail');
    assert.deepEqual(await readFile(join(spool, name)), data, 'the spooled copy is untouched');
    await rm(source);
    await rm(join(spool, name));
  });

  test('a failed commit keeps the file (and those after it) in the spool for the next pass; history files go too', async () => {
    const before = (await archivedSegments()).length;
    store.failNext('commitBlocks', 2);
    await writeFile(join(spool, '00000002.history'), '1\t0/3000000\tno recovery target specified\n');
    await switchWal(2);
    await waitFor(async () => (await walInSpool()).length >= 2, {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'WAL in the spool',
    });
    await watcher.pass();
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.file, '00000002.history', 'history files first');
    assert.ok((await readdir(spool)).includes('00000002.history'), 'kept after the failed commit');
    assert.equal((await archivedSegments()).length, before, 'nothing after a failed file is committed');
    await waitFor(
      async () => {
        await watcher.pass();
        return (await walInSpool()).length === 0 && !(await readdir(spool)).includes('00000002.history');
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the spool emptied after the retries' },
    );
    assert.equal(failures.length, 2, 'two failures, then success');
    assert.ok((await archive.list(TARGET)).some((file) => file.kind === 'history' && file.timeline === 2));
    assert.equal((await archivedSegments()).length, before + 2);
  });

  test('a spool directory that does not exist stops the start with one line', async () => {
    const missing = new SpoolWatcher({ targetId: TARGET, spool: join(spool, 'nope'), sink: archive });
    await assert.rejects(missing.start(), /the spool directory .*nope \(pitr\.spool\) does not exist/);
  });
});
