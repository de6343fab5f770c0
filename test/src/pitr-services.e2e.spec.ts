import assert from 'node:assert/strict';
import { access, chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { AzureBlobStore } from '@tidemark/storage';
import {
  asPostgres,
  freePort,
  PG_BIN,
  startScratchCluster,
  waitFor,
  type ScratchCluster,
  type Tick,
  TickWriter,
} from '@tidemark/testing';
import { parseLsn } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { TestStack } from './support/stack';

const TARGET = 'orders-cluster';
const run = promisify(execFile);

/**
 * Issue 13's end-to-end proof: the six services from dist/ against a PostgreSQL cluster of the test's own, Azurite
 * and Redis. While a writer commits timestamped rows the archiver streams WAL, a base backup goes through dump,
 * upload and verify (the verifier recovers it from the archive), writing goes on across segment switches, a
 * server restart and a storage outage, and restores to three times prove exactly the rows committed up to each.
 */
describe('point-in-time recovery through the running services (real PostgreSQL, Azurite, Redis)', () => {
  let cluster: ScratchCluster;
  let stack: TestStack;
  let archive: WalArchive;
  let work: string;
  let base: Manifest;
  let writer: TickWriter;
  const started: string[] = [];
  let standby: string | undefined;

  const write = (count: number, switchEvery?: number) => writer.write(count, switchEvery, 50);
  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );
  /** Waits until the archive holds WAL received after the newest commit (a segment or the shipped partial). */
  const archivedUpToLastCommit = async (): Promise<void> => {
    const last = writer.ticks.at(-1)?.committedAt.getTime() ?? 0;
    await waitFor(
      async () =>
        (await archive.list(TARGET)).some(
          (file) => file.kind !== 'history' && new Date(file.metadata?.receivedat ?? 0).getTime() >= last,
        ),
      { timeoutMs: 90_000, intervalMs: 250, what: 'WAL received after the last commit in the archive' },
    );
  };

  before(async () => {
    cluster = await startScratchCluster({ walSegmentMiB: 1, settings: ['track_commit_timestamp = on'] });
    work = await mkdtemp(join(tmpdir(), 'tidemark-pitr-services-'));
    // The restored servers run as postgres: it must reach their directories.
    await chmod(work, 0o755);
    writer = new TickWriter(cluster);
    await writer.createTable();
    const local = join(work, 'local');
    await mkdir(local, { mode: 0o755 });
    stack = await TestStack.start({
      config: `
storage: { container: pitr-services }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  pitr:
    schedule: "0 3 * * *"
    verify: { restoreTest: true }
targets:
  - id: ${TARGET}
    kind: postgres
    method: physical
    url: "\${ORDERS_REPL_URL}"
    policy: pitr
    pitr: { windowDays: 7, shipPartialSeconds: 2, maxLagSeconds: 120 }
`,
      env: {
        ORDERS_REPL_URL: cluster.replicationUrl,
        TIDEMARK_PG_BIN: PG_BIN,
        TIDEMARK_ARCHIVER_ACQUIRE_INTERVAL_MS: '500',
        TIDEMARK_ARCHIVER_LEASE_TTL_MS: '6000',
      },
      redisDb: 12,
      archiver: true,
      // The verifier's scratch copies live under the local tier; as root their server runs as postgres.
      localDir: local,
    });
    const store = AzureBlobStore.fromConnectionString(stack.azurite.connectionString, 'pitr-services');
    archive = new WalArchive(store);
    // The archive must hold WAL from before the base backup's start, or the verifier cannot replay it.
    await write(6, 3);
    await archivedUpToLastCommit();
  });

  after(async () => {
    for (const dir of [...started, ...(standby ? [standby] : [])])
      await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dir, '-m', 'immediate', '-w', 'stop']).catch(
        () => undefined,
      );
    await stack.stop();
    await cluster.remove();
    await rm(work, { recursive: true, force: true });
  });

  test('a base backup is dumped, uploaded and verified by recovering it from the WAL archive', async () => {
    const result = await stack.cli(['backup', TARGET, '--wait', '--json', '--timeout', '300']);
    assert.equal(result.code, 0, result.stderr + result.stdout + stack.logs('verifier'));
    const { backupId, status } = JSON.parse(result.stdout) as { backupId: string; status: string };
    assert.equal(status, 'verified');
    base = parseManifest(JSON.parse((await stack.cli(['show', backupId])).stdout));
    assert.equal(base.artifact.format, 'pg_basebackup-tar');
    const physical = base.content.physical;
    assert.ok(physical);
    assert.ok(parseLsn(physical.stopLsn) > parseLsn(physical.startLsn));
    const checks = base.verification?.restoreTest?.checks ?? [];
    const names = checks.map((check) => check.name);
    for (const name of ['pg_verifybackup', 'system identifier', 'recovery'])
      assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    const ticksCount = checks.find((check) => check.name === 'rows postgres.public.ticks');
    assert.ok(ticksCount?.ok, 'the recovered copy counted the writer.ticks table');
    assert.equal(Number(ticksCount.actual), 6, 'the rows committed before the backup');
  });

  test('WAL keeps arriving across segment switches, a server restart and a storage outage', async () => {
    await write(10, 4);
    // PostgreSQL restarts: pg_receivewal loses its connection, the archiver restarts it where it stopped.
    await cluster.restart();
    await write(8, 4);
    // Blob Storage goes away: the slot keeps the WAL on the server, nothing is lost, it all arrives later.
    await stack.azurite.stop();
    await write(8, 4);
    await sleep(60_000);
    await stack.azurite.start();
    // The last rows stay in the partial segment: no switch after them.
    await write(5);
    await archivedUpToLastCommit();
    const physical = base.content.physical;
    assert.ok(physical);
    const report = await archive.checkContinuity(
      TARGET,
      { timeline: physical.timeline, lsn: physical.startLsn },
      { segmentBytes: physical.walSegmentBytes, verifyChecksums: true },
    );
    assert.deepEqual(report.problems, [], 'no gap, no mismatch from the base backup on');
    const metrics = await stack.metrics('archiver');
    assert.match(metrics, /tidemark_wal_segments_total\{[^}]*result="archived"[^}]*\} [1-9]/);
    assert.match(metrics, /tidemark_wal_archive_max_lag_seconds\{[^}]*target="orders-cluster"[^}]*\} 120/);
  });

  test('a time before the base backup ended is refused with the window, nothing written', async () => {
    const to = join(work, 'too-early');
    const at = (writer.ticks[2] as Tick).committedAt.toISOString();
    const result = await stack.cli(['restore', TARGET, '--at', at, '--to', to]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot be reached: restorable: /);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await exists(to), false);
  });

  test('a time in the middle: exactly the rows committed up to then, after the restart and the outage', async () => {
    // Between the 25th and 26th commit: after the restart, before the outage ended.
    const k = writer.ticks[24] as Tick;
    const next = writer.ticks[25] as Tick;
    const at = new Date((k.committedAt.getTime() + next.committedAt.getTime()) / 2);
    const to = join(work, 'middle');
    const port = await freePort();
    const result = await stack.cli([
      'restore',
      TARGET,
      '--at',
      at.toISOString(),
      '--to',
      to,
      '--start',
      '--port',
      String(port),
    ]);
    started.push(to);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`restored base backup ${base.backupId}`));
    assert.deepEqual(await TickWriter.rowsOn(port), writer.committedBy(at));
  });

  test('the latest: every committed row, the last ones from the shipped partial segment', async () => {
    const to = join(work, 'latest');
    const port = await freePort();
    const result = await stack.cli([
      'restore',
      TARGET,
      '--latest',
      '--to',
      to,
      '--start',
      '--port',
      String(port),
    ]);
    started.push(to);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      await TickWriter.rowsOn(port),
      writer.ticks.map((t) => t.id),
    );
  });

  test('a promoted standby: the archive follows the new timeline, and a time on it is restorable', async () => {
    const dir = join(work, 'standby');
    standby = dir;
    await mkdir(dir, { mode: 0o700 });
    await run('chown', ['postgres:postgres', dir]);
    const ctl = (args: string[]) => asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dir, ...args]);
    const on = (port: number) => ['-o', `-c port=${String(port)} -c unix_socket_directories=${dir}`];
    await asPostgres(`${PG_BIN}/pg_basebackup`, [
      ...['-D', dir, '-R', '-X', 'stream', '-c', 'fast'],
      ...['-d', `host=127.0.0.1 port=${String(cluster.port)} user=postgres`],
    ]);
    // The scratch cluster keeps its socket in its data directory: the copy holds the primary's socket lock file,
    // which would keep the promoted standby off the primary's port.
    for (const name of await readdir(dir))
      if (name.startsWith('.s.PGSQL.')) await rm(join(dir, name), { force: true });
    await ctl(['-l', join(dir, 'server.log'), ...on(await freePort()), '-w', 'start']);
    await write(4, 2);
    // A switchover: the primary stops (its standby receives everything first), the standby is promoted and
    // takes the primary's address, without the archiver's slot (base backups leave slots out).
    await cluster.stop();
    await ctl(['-w', 'promote']);
    await ctl(['-m', 'fast', '-w', 'stop']);
    await ctl(['-l', join(dir, 'server.log'), ...on(cluster.port), '-w', 'start']);
    const [control] = await cluster.query<{ timeline_id: number }>(
      'SELECT timeline_id FROM pg_control_checkpoint()',
    );
    assert.equal(control?.timeline_id, 2);
    const firstOnNewTimeline = writer.ticks.length;
    await write(8, 4);
    await archivedUpToLastCommit();
    const files = await archive.list(TARGET);
    assert.ok(files.some((file) => file.kind === 'history' && file.file === '00000002.history'));
    assert.ok(files.some((file) => file.kind === 'segment' && file.timeline === 2));

    const k = writer.ticks[firstOnNewTimeline + 4] as Tick;
    const next = writer.ticks[firstOnNewTimeline + 5] as Tick;
    const at = new Date((k.committedAt.getTime() + next.committedAt.getTime()) / 2);
    const to = join(work, 'on-timeline-2');
    const port = await freePort();
    const result = await stack.cli([
      ...['restore', TARGET, '--at', at.toISOString(), '--to', to],
      ...['--start', '--port', String(port)],
    ]);
    started.push(to);
    assert.equal(result.code, 0, result.stderr + stack.logs('archiver'));
    assert.deepEqual(await TickWriter.rowsOn(port), writer.committedBy(at));
  });
});
