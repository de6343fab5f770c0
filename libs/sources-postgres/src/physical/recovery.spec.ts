import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupContent } from '@tidemark/manifest';
import { SourceError, type StreamSource, type WalSupply } from '@tidemark/source-contract';
import { freePort, PG_BIN, startScratchCluster, type ScratchCluster } from '@tidemark/testing';
import { sourceError, toFile } from '@tidemark/testing-sources';
import { parseLsn, parseSegmentFileName, segmentFileName, type RecoveryTarget } from '@tidemark/wal';
import { postgresKind } from '../kind';
import { extractTar } from './extract';
import {
  placeWal,
  startRecoveredServer,
  RecoveryFailed,
  WAL_DIRECTORY,
  writeRecoverySettings,
  type WalToPlace,
} from './recovery';

function physical(url: string): StreamSource {
  return postgresKind.create(
    { kind: 'postgres', url, options: { method: 'physical' } },
    { binDir: PG_BIN },
  ) as StreamSource;
}

/** A WAL supply over the source cluster's own pg_wal: the segment being written stands in for a shipped partial. */
function pgWalSupply(cluster: ScratchCluster, fetched: string[] = []): WalSupply {
  return {
    fetch: async (request, destination) => {
      fetched.push(request.file);
      try {
        await copyFile(join(cluster.dataDir, 'pg_wal', request.file), destination);
      } catch {
        throw new SourceError('wal-missing', `${request.file} is not in pg_wal`);
      }
    },
  };
}

/** The segments from `first` to `last` (names on timeline 1), the last one as a partial when asked. */
function segments(first: string, last: string, lastIsPartial: boolean): WalToPlace[] {
  const from = parseSegmentFileName(first)?.segno ?? 0n;
  const to = parseSegmentFileName(last)?.segno ?? 0n;
  const files: WalToPlace[] = [];
  for (let segno = from; segno <= to; segno++)
    files.push({
      timeline: 1,
      file: segmentFileName({ timeline: 1, segno }),
      kind: segno === to && lastIsPartial ? 'partial' : 'segment',
    });
  return files;
}

describe('recovery of a base backup from archived WAL', () => {
  let cluster: ScratchCluster;
  let work: string;
  let tarPath: string;
  let content: BackupContent;
  let between: Date;
  let stopSegment: string;
  let currentSegment: string;
  let dirs = 0;

  const count = async (query: (db: string, sql: string) => Promise<Record<string, unknown>[]>) =>
    Number((await query('postgres', 'SELECT count(*)::int AS n FROM orders'))[0]?.['n']);

  /** A fresh data directory from the base backup, its WAL placed and its recovery settings written. */
  async function prepared(
    files: WalToPlace[],
    target: RecoveryTarget,
  ): Promise<{ dir: string; written: RecoveryTarget }> {
    dirs += 1;
    const dir = join(work, `data-${String(dirs)}`);
    await extractTar(createReadStream(tarPath), dir, process.env);
    await placeWal(dir, files, pgWalSupply(cluster));
    const written = await writeRecoverySettings(dir, { target, timeline: 1, binDir: PG_BIN });
    return { dir, written };
  }

  const start = async (dir: string) =>
    startRecoveredServer(dir, {
      port: await freePort(),
      runDir: join(work, `run-${String(dirs)}`),
      binDir: PG_BIN,
    });

  before(async () => {
    cluster = await startScratchCluster({ settings: ['wal_keep_size = 1GB'] });
    work = await mkdtemp(join(tmpdir(), 'tidemark-recovery-'));
    await chmod(work, 0o755); // the server runs as postgres and must reach its directories
    await cluster.query('CREATE TABLE orders (id int PRIMARY KEY)');
    await cluster.query('INSERT INTO orders SELECT generate_series(1, 10)');
    tarPath = join(work, 'base.tar');
    const handle = await physical(cluster.replicationUrl).dump({ backupId: 'b1', workDir: work });
    await toFile(handle.stdout, tarPath);
    content = await handle.content;
    stopSegment = segmentFileName({
      timeline: 1,
      segno: parseLsn(content.physical?.stopLsn ?? '0/0') / 16777216n,
    });
    await cluster.query('INSERT INTO orders SELECT generate_series(11, 20)');
    await sleep(20);
    between = new Date();
    await sleep(20);
    await cluster.query('INSERT INTO orders SELECT generate_series(21, 30)');
    await cluster.query('SELECT pg_switch_wal()');
    await cluster.query('INSERT INTO orders SELECT generate_series(31, 40)');
    const [row] = await cluster.query<{ name: string }>(
      'SELECT pg_walfile_name(pg_current_wal_lsn()) AS name',
    );
    currentSegment = row?.name ?? '';
  });

  after(async () => {
    await cluster.remove();
    if (!process.env['KEEP']) await rm(work, { recursive: true, force: true });
  });

  const startSegment = () =>
    segmentFileName({ timeline: 1, segno: parseLsn(content.physical?.startLsn ?? '0/0') / 16777216n });

  test('immediate: the backup itself, from its own WAL range only', async () => {
    const { dir } = await prepared(segments(startSegment(), stopSegment, false), { type: 'immediate' });
    const conf = await readFile(join(dir, 'postgresql.auto.conf'), 'utf8');
    assert.match(conf, /restore_command = 'cp tidemark-wal\/%f "%p"'/);
    assert.match(conf, /recovery_target = 'immediate'/);
    // A run directory too deep for a unix socket path: the socket goes to a short temp directory instead.
    const runDir = join(work, 'a-run-directory-whose-path-is-too-long-for-a-unix-socket'.repeat(2));
    const server = await startRecoveredServer(dir, { port: await freePort(), runDir, binDir: PG_BIN });
    try {
      assert.ok(!server.socketDir.startsWith(runDir), server.socketDir);
      assert.equal(await count(server.query), 10);
    } finally {
      await server.stop();
    }
    await assert.rejects(readFile(server.socketDir), { code: 'ENOENT' });
  });

  test('a time between two commits: the first is in, the second is not; reachedAt is the first', async () => {
    const { dir, written } = await prepared(segments(startSegment(), currentSegment, true), {
      type: 'time',
      at: between,
    });
    assert.equal(written.type, 'time');
    const server = await start(dir);
    try {
      assert.equal(await count(server.query), 20);
      assert.ok(server.reachedAt, 'a replayed commit time');
      assert.ok(server.reachedAt.getTime() <= between.getTime(), server.reachedAt.toISOString());
      assert.ok(server.reachedAt.getTime() > between.getTime() - 5_000, server.reachedAt.toISOString());
    } finally {
      await server.stop();
    }
  });

  test('a time after the last commit recovers to the end of the WAL, partial included', async () => {
    const { dir, written } = await prepared(segments(startSegment(), currentSegment, true), {
      type: 'time',
      at: new Date(Date.now() + 3_600_000),
    });
    assert.equal(written.type, 'latest');
    const server = await start(dir);
    try {
      assert.equal(await count(server.query), 40);
      const [state] = await server.query<{ recovering: boolean }>(
        'postgres',
        'SELECT pg_is_in_recovery() AS recovering',
      );
      assert.equal(state?.recovering, false);
    } finally {
      await server.stop();
    }
    await assert.rejects(server.query('postgres', 'SELECT 1'), sourceError('restore-failed'));
  });

  test("a target past the end of the WAL fails with the server log's FATAL line, and the server is stopped", async () => {
    const { dir } = await prepared(segments(startSegment(), stopSegment, false), {
      type: 'lsn',
      lsn: parseLsn('FF/0'),
    });
    const failure = await start(dir).then(
      () => assert.fail('the server started'),
      (err: unknown) => err,
    );
    assert.ok(failure instanceof RecoveryFailed, String(failure));
    assert.match(failure.message, /FATAL: recovery ended before configured recovery target was reached/);
    assert.equal(failure.code, 'restore-failed');
    await assert.rejects(readFile(join(dir, 'postmaster.pid')), { code: 'ENOENT' });
  });

  test('a file the archive does not hold rejects placeWal with wal-missing', async () => {
    const dir = join(work, 'missing');
    const files = [
      ...segments(startSegment(), stopSegment, false),
      { timeline: 1, file: '0000000100000000000000F0', kind: 'segment' as const },
    ];
    await assert.rejects(placeWal(dir, files, pgWalSupply(cluster)), sourceError('wal-missing', /F0/));
    await rm(join(dir, WAL_DIRECTORY), { recursive: true, force: true });
  });
});
