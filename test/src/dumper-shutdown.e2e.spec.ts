import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { uniqueName, waitFor } from '@tidemark/testing';
import { dbUrl, dropDatabase, withClient } from './support/database';
import { RedisServer } from './support/redis-server';
import { slowPgBin } from './support/slow-tools';
import { TestStack } from './support/stack';

const CONFIG = `
storage: { container: e2e-dumper-shutdown }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  quick:
    schedule: "0 4 1 1 *"
    verify: { restoreTest: false }
targets:
  - { id: slow-db, kind: postgres, url: "\${SLOW_DB_URL}", policy: quick }
`;

describe('the dumper signalled in the middle of a long dump', () => {
  const database = uniqueName('tmd_slow').replaceAll('-', '_');
  let redis: RedisServer;
  let stack: TestStack;
  let bus: RedisStreamEventBus;
  let scratch: string;
  let slowBin: string;

  const events = async (backupId: string): Promise<TidemarkEvent[]> =>
    (await bus.history({ backupId })).map((e) => e.event);
  const localFiles = (backupId: string): Promise<string[]> =>
    readdir(join(stack.dir, 'local', 'slow-db', backupId)).catch(() => []);
  const remoteManifest = async (backupId: string): Promise<Manifest> => {
    const shown = await stack.cli(['show', backupId]);
    assert.equal(shown.code, 0, shown.stderr);
    return parseManifest(JSON.parse(shown.stdout));
  };
  /** Starts the dumper with the slow pg_dump and returns once run `run` of the backup has a part on the local tier. */
  const untilPartOfRun = async (backupId: string, run: number): Promise<void> => {
    await waitFor(async () => (await localFiles(backupId)).some((f) => f.includes(`.a0${run}.part-`)), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `the first part of run ${run} of the slow dump`,
    });
  };
  const startSlowBackup = async (): Promise<string> => {
    await stack.restartService('dumper', { TIDEMARK_PG_BIN: slowBin });
    const started = await stack.cli(['backup', 'slow-db', '--json']);
    assert.equal(started.code, 0, started.stderr);
    const { backupId } = JSON.parse(started.stdout) as { backupId: string };
    await untilPartOfRun(backupId, 1);
    return backupId;
  };
  const expectVerifiedAsRun = async (backupId: string, run: number): Promise<void> => {
    await waitFor(
      async () =>
        (await events(backupId)).some(
          (e) => e.type === 'tidemark.backup.verified' || e.type === 'tidemark.backup.failed',
        ),
      { timeoutMs: 120_000, intervalMs: 500, what: 'the backup to end after the dumper came back' },
    );
    const manifest = await remoteManifest(backupId);
    assert.equal(manifest.failure, null, 'no failure recorded');
    assert.equal(manifest.status, 'verified');
    // The interrupted runs left their parts; this run's names (and block ids) are its own.
    assert.equal(manifest.artifact.dumpAttempt, run, `the run that completed has run number ${run}`);
    assert.equal((await events(backupId)).filter((e) => e.type === 'tidemark.backup.failed').length, 0);
    assert.equal((await events(backupId)).filter((e) => e.type === 'tidemark.backup.dumped').length, 1);
  };

  before(async () => {
    await withClient(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE ${database}`));
    await withClient(dbUrl(database), (c) =>
      c.query(
        `CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT i, (SELECT string_agg(md5(i::text || '-' || j::text), '') FROM generate_series(1, 10) j)
         FROM generate_series(1, 30000) i`,
      ),
    );
    scratch = await mkdtemp(join(tmpdir(), 'tidemark-slow-'));
    // About 10 MB of dump at 256 KiB/s: some 40 s, against about 4 s until the first 1 MiB part.
    slowBin = await slowPgBin(join(scratch, 'bin'), 256 * 1024);
    redis = await RedisServer.start();
    stack = await TestStack.start({
      config: CONFIG,
      redisUrl: redis.url,
      env: { SLOW_DB_URL: dbUrl(database), TIDEMARK_PART_SIZE_MB: '1' },
    });
    bus = new RedisStreamEventBus(redis.url);
  });

  after(async () => {
    await bus.close();
    await stack.stop();
    await redis.destroy();
    await dropDatabase(database);
    await rm(scratch, { recursive: true, force: true });
  });

  test('SIGTERM, three times in one long dump (a rolling restart each): stops at once, never fails the backup', async () => {
    const backupId = await startSlowBackup();
    for (let run = 1; run <= 3; run++) {
      if (run > 1) {
        await stack.startService('dumper', { TIDEMARK_PG_BIN: slowBin });
        await stack.waitReady('dumper');
        await untilPartOfRun(backupId, run);
      }
      const exitedInTime = await stack.signalService('dumper', 'SIGTERM', 15_000);
      assert.ok(
        exitedInTime,
        `run ${run}: the dumper exited within 15 s of SIGTERM, mid-dump (the dump lasts ~40 s)`,
      );
    }
    await stack.startService('dumper');
    await stack.waitReady('dumper');
    await expectVerifiedAsRun(backupId, 4);
  });

  test('SIGKILL: the re-run of the stalled job never reuses the dead run part names and block ids', async () => {
    const backupId = await startSlowBackup();
    await stack.stopService('dumper', 'SIGKILL');
    await stack.startService('dumper');
    await stack.waitReady('dumper');
    await expectVerifiedAsRun(backupId, 2);
  });
});
