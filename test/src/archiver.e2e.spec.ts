import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { slotName } from '@tidemark/archiving';
import { manifestBlobName } from '@tidemark/manifest';
import { AzureBlobStore, type BlobStore } from '@tidemark/storage';
import {
  freePort,
  PG_BIN,
  type AzuriteHandle,
  type ScratchCluster,
  startAzurite,
  startScratchCluster,
  uniqueName,
  waitFor,
} from '@tidemark/testing';
import { seedManifest } from '@tidemark/testing-retention';
import { formatLsn, parseLsn, parseSegmentFileName, segmentBlobName, segmentFileName } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { Redis } from 'ioredis';
import { entryOf } from './support/app-env';
import { REPO_ROOT, runCli, runProcess } from './support/stack';

// The archiver service from dist/ against a real PostgreSQL 15 cluster, Azurite and Redis: two replicas, one
// streams; SIGKILL of the holder mid-segment hands the target to the other with no gap and no conflicting segment.
const TARGET = 'pitr-db';
const SEGMENT_BYTES = 1 << 20;

interface Archiver {
  child: ChildProcess;
  port: number;
  output: string;
  /** The exit code, or the signal that ended it. */
  exited: Promise<number | string | null>;
}

/** The pid of `parent`'s child running `command`, or false while it has none. */
async function childPid(parent: number, command: string): Promise<number | false> {
  const children = await readFile(`/proc/${String(parent)}/task/${String(parent)}/children`, 'utf8').catch(
    () => '',
  );
  for (const pid of children.split(' ').filter(Boolean).map(Number)) {
    const comm = await readFile(`/proc/${String(pid)}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === command) return pid;
  }
  return false;
}

/** Running, not a zombie waiting for a reaper (an orphan's new parent may be slow to reap it, or never). */
function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('archiver service (dist/, real PostgreSQL, Azurite, Redis)', () => {
  let cluster: ScratchCluster;
  let azurite: AzuriteHandle;
  let redis: Redis;
  let dir: string;
  let store: BlobStore;
  let archive: WalArchive;
  let config: string;
  const namespace = uniqueName('arch').slice(0, 20);
  const container = uniqueName('e2e-archiver');
  const archivers: Archiver[] = [];
  let table = 0;

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: process.env['PATH'] ?? '',
    REDIS_URL: 'redis://127.0.0.1:6379',
    TIDEMARK_NAMESPACE: namespace,
    AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
    TIDEMARK_CONFIG: config,
    TIDEMARK_PG_BIN: PG_BIN,
    PITR_DB_URL: cluster.replicationUrl,
    TIDEMARK_ARCHIVER_LEASE_TTL_MS: '3000',
    TIDEMARK_ARCHIVER_ACQUIRE_INTERVAL_MS: '300',
    TIDEMARK_ARCHIVER_EVENT_BATCH_MS: '500',
    LOG_LEVEL: 'info',
    ...extra,
  });

  const start = async (name: string): Promise<Archiver> => {
    const port = await freePort();
    const child = spawn(process.execPath, [join(REPO_ROOT, entryOf('archiver').compiled)], {
      cwd: REPO_ROOT,
      // Its own process group: a SIGKILL of the group is a pod's death, pg_receivewal included.
      detached: true,
      env: env({ PORT: String(port), TIDEMARK_ARCHIVER_SPOOL_DIR: join(dir, name) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const running: Archiver = {
      child,
      port,
      output: '',
      exited: new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          resolve(code ?? signal);
        });
      }),
    };
    child.stdout.on('data', (c: Buffer) => (running.output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (running.output += c.toString()));
    archivers.push(running);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${String(port)}/readyz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: `archiver ${name} ready`,
    });
    return running;
  };
  const holderPid = async (): Promise<number | null> => {
    const owner = await redis.get(`tidemark-${namespace}:lock:archiver:${TARGET}`);
    return owner ? Number(owner.split(':')[1]) : null;
  };
  const switchWal = async (times = 1) => {
    for (let i = 0; i < times; i++) {
      table++;
      await cluster.query(`CREATE TABLE t${String(table)} AS SELECT generate_series(1, 3000) AS n`);
      await cluster.query('SELECT pg_switch_wal()');
    }
  };
  const archived = async () =>
    (await archive.list(TARGET)).filter((file) => file.kind === 'segment').map((file) => file.file);
  /** Waits until every segment before the server's current one is in Blob Storage. */
  const archivedUpToNow = async () => {
    const rows = await cluster.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const current = parseLsn(rows[0]?.lsn ?? '0/0') / BigInt(SEGMENT_BYTES);
    const closed = segmentFileName({ timeline: 1, segno: current - 1n }, SEGMENT_BYTES);
    await waitFor(async () => (await archived()).includes(closed), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: `segment ${closed} archived`,
    });
    return closed;
  };

  before(async () => {
    const build = await runProcess(process.execPath, [join(REPO_ROOT, 'tools', 'build.mjs')], process.env);
    assert.equal(build.code, 0, build.stderr);
    dir = await mkdtemp(join(tmpdir(), 'tidemark-archiver-e2e-'));
    [cluster, azurite] = await Promise.all([startScratchCluster({ walSegmentMiB: 1 }), startAzurite()]);
    redis = new Redis('redis://127.0.0.1:6379');
    store = AzureBlobStore.fromConnectionString(azurite.connectionString, container);
    archive = new WalArchive(store);
    config = join(dir, 'tidemark.yaml');
    await writeFile(
      config,
      [
        `storage: { container: ${container} }`,
        `local: { path: ${join(dir, 'backups')} }`,
        'policies:',
        "  p: { schedule: '0 2 * * *' }",
        'targets:',
        // A logical target whose variable is never set: the archiver does not need it.
        '  - { id: logical-db, kind: postgres, url: "${LOGICAL_DB_URL}", policy: p }',
        `  - id: ${TARGET}`,
        '    kind: postgres',
        '    method: physical',
        '    url: ${PITR_DB_URL}',
        '    policy: p',
        '    pitr: { shipPartialSeconds: 1 }',
        '  - id: spooled-db',
        '    kind: postgres',
        '    method: physical',
        '    url: postgres://u@127.0.0.1:1/postgres',
        '    policy: p',
        `    pitr: { route: archive-command, spool: ${join(dir, 'spool')} }`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    for (const running of archivers) {
      if (running.child.exitCode === null && running.child.signalCode === null) {
        process.kill(-(running.child.pid ?? 0), 'SIGKILL');
        await running.exited;
      }
    }
    const keys = await redis.keys(`tidemark-${namespace}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await cluster.remove();
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('refuses to start, one line, when a physical target variable is unset', async () => {
    const result = await runProcess(
      process.execPath,
      [join(REPO_ROOT, entryOf('archiver').compiled)],
      env({ PORT: '0', PITR_DB_URL: '' }),
    );
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.equal(
      result.stderr,
      'archiver: targets[1].url (pitr-db): environment variable PITR_DB_URL is not set\n',
    );
  });

  test('`wal archive-command` prints the postgresql.conf lines of a spooled target, and refuses a slot target', async () => {
    const cli = env();
    const spooled = await runCli(['wal', 'archive-command', 'spooled-db', '--config', config], cli);
    assert.equal(spooled.code, 0, spooled.stderr);
    const spool = join(dir, 'spool');
    assert.equal(
      spooled.stdout,
      `archive_mode = on\narchive_command = 'test ! -f ${spool}/%f && cp %p ${spool}/.%f.tmp && sync ${spool}/.%f.tmp && mv ${spool}/.%f.tmp ${spool}/%f || cmp -s %p ${spool}/%f'\n`,
    );
    const slot = await runCli(['wal', 'archive-command', TARGET, '--config', config], cli);
    assert.equal(slot.code, 1);
    assert.match(
      slot.stderr,
      /^tidemark: target pitr-db streams WAL through a replication slot; set pitr: \{ route: archive-command/,
    );
    const logical = await runCli(['wal', 'archive-command', 'logical-db', '--config', config], cli);
    assert.equal(logical.code, 1);
    assert.match(logical.stderr, /is not a physical PostgreSQL target/);
  });

  test('two replicas: one streams; SIGKILL of the holder mid-segment, the other takes over with no gap', async (t) => {
    // The spooled target's spool exists, so whichever replica holds it just watches an empty directory.
    await mkdir(join(dir, 'spool'), { recursive: true });
    const one = await start('one');
    const two = await start('two');
    for (const running of [one, two]) {
      const health = await fetch(`http://127.0.0.1:${String(running.port)}/healthz`);
      assert.equal(health.status, 200);
    }
    const firstPid = await waitFor(holderPid, { timeoutMs: 10_000, intervalMs: 100, what: 'a lease holder' });
    const holder = archivers.find((a) => a.child.pid === firstPid);
    const standby = archivers.find((a) => a.child.pid !== firstPid);
    assert.ok(holder && standby, `lease held by pid ${String(firstPid)}, one of ours`);
    const slots = await cluster.query(
      `SELECT 1 FROM pg_replication_slots WHERE slot_name = '${slotName(TARGET)}'`,
    );
    assert.equal(slots.length, 1, 'the archiver made its slot');

    await switchWal(3);
    const before = await archivedUpToNow();
    assert.ok(
      (await store.properties(`${TARGET}/wal/00000001/${before}.zst`)) !== null,
      'segments land at <id>/wal/<timeline>/<segment>.zst',
    );
    // Mid-segment: WAL written, the segment not closed; the holder ships it as a partial.
    await cluster.query('CREATE TABLE mid_segment AS SELECT generate_series(1, 500) AS n');
    await waitFor(async () => (await archive.list(TARGET)).some((file) => file.kind === 'partial'), {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'a shipped partial',
    });
    process.kill(-(holder.child.pid ?? 0), 'SIGKILL');
    await holder.exited;

    const secondPid = await waitFor(
      async () => ((await holderPid()) === standby.child.pid ? standby.child.pid : false),
      {
        timeoutMs: 15_000,
        intervalMs: 100,
        what: 'the standby taking the lease',
      },
    );
    assert.equal(secondPid, standby.child.pid);
    await switchWal(3);
    const newest = await archivedUpToNow();

    const files = await archive.list(TARGET);
    const segments = files.filter((file) => file.kind === 'segment');
    assert.equal(new Set(segments.map((file) => file.file)).size, segments.length);
    const first = segments[0]?.file ?? '';
    const segno = parseSegmentFileName(first, SEGMENT_BYTES)?.segno ?? 0n;
    const report = await archive.checkContinuity(
      TARGET,
      { timeline: 1, lsn: formatLsn(segno * BigInt(SEGMENT_BYTES)) },
      { segmentBytes: SEGMENT_BYTES, verifyChecksums: true },
    );
    assert.deepEqual(report.problems, [], 'no gap and every sha256 matches');
    assert.equal(report.checkedTo, newest);
    assert.ok(!/already exists with other bytes|conflict/.test(standby.output), 'no conflicting segment');

    const metrics = await (await fetch(`http://127.0.0.1:${String(standby.port)}/metrics`)).text();
    assert.match(
      metrics,
      /tidemark_wal_segments_total\{[^}]*target="pitr-db"[^}]*result="archived"[^}]*\} [1-9]/,
    );
    assert.match(metrics, /tidemark_wal_last_archived_timestamp_seconds\{[^}]*target="pitr-db"[^}]*\} \d/);
    assert.match(metrics, /tidemark_wal_archive_lag_seconds\{[^}]*target="pitr-db"/);
    const events = (await redis.xrange(`tidemark-${namespace}:events`, '-', '+')) as [string, string[]][];
    const types = events.map(([, fields]) => fields[fields.indexOf('type') + 1]);
    assert.ok(types.includes('tidemark.wal.archived'), types.join());
    assert.ok(!types.includes('tidemark.wal.gap'));

    const status = await readFile(`/proc/${String(standby.child.pid)}/status`, 'utf8');
    t.diagnostic(`archiver peak RSS: ${/VmHWM:\s*(\d+ kB)/.exec(status)?.[1] ?? '?'}`);
    // SIGTERM: the standby ships what it has, hands the lease back and ends (Nest re-raises the signal once its
    // shutdown hooks are done, as every service does).
    standby.child.kill('SIGTERM');
    assert.ok([0, 'SIGTERM'].includes((await standby.exited) ?? ''), standby.output.slice(-2000));
    assert.equal(await holderPid(), null, 'the lease is released on a clean stop');
    assert.match(standby.output, /archiver stopped/);
  });

  test('SIGKILL of the holder alone (no pod to take its pg_receivewal along): the next holder ends the orphaned stream', async () => {
    await mkdir(join(dir, 'spool'), { recursive: true });
    const alone = await start('alone');
    const other = await start('other');
    const ours = [alone, other];
    const holding = await waitFor(
      async () => {
        const pid = await holderPid();
        return ours.find((a) => a.child.pid === pid) ?? false;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: 'one of the two holding the lease' },
    );
    const next = ours.find((a) => a !== holding);
    assert.ok(next);
    const streams = async () =>
      (
        await cluster.query<{ pid: number; name: string }>(
          `SELECT pid, application_name AS name FROM pg_stat_replication
            WHERE application_name LIKE 'tidemark-archiver-%'`,
        )
      ).map((row) => row.name);
    const [orphaned] = await waitFor(async () => ((await streams()).length === 1 ? await streams() : false), {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'the holder streaming',
    });
    const receiver = await waitFor(async () => childPid(holding.child.pid ?? 0, 'pg_receivewal'), {
      timeoutMs: 5_000,
      intervalMs: 100,
      what: "the holder's pg_receivewal",
    });
    // Only the Node process: its pg_receivewal lives on, reparented, still streaming.
    process.kill(holding.child.pid ?? 0, 'SIGKILL');
    await holding.exited;
    assert.ok(processAlive(receiver), 'pg_receivewal outlives the archiver');

    await waitFor(async () => (await holderPid()) === next.child.pid, {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'the other taking the lease',
    });
    await waitFor(() => Promise.resolve(!processAlive(receiver)), {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'the orphaned pg_receivewal to end',
    });
    const left = await waitFor(
      async () => {
        const names = await streams();
        return names.length === 1 && names[0] !== orphaned ? names : false;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: "only the new holder's stream" },
    );
    assert.notEqual(left[0], orphaned);
    assert.match(next.output, /ended 1 WAL stream\(s\) left by an earlier receiver/);
    next.child.kill('SIGTERM');
    await next.exited;
  });
  test('the continuity check of a replica taking the lease reports a deleted segment as tidemark.wal.gap', async () => {
    // A kept base backup whose WAL starts at the first archived segment, then one segment after it lost.
    const segments = (await archived()).sort();
    const [first, , lost] = segments;
    assert.ok(first && lost, segments.join());
    const segno = parseSegmentFileName(first, SEGMENT_BYTES)?.segno ?? 0n;
    const seeded = seedManifest(container, { targetId: TARGET, takenAt: new Date(), status: 'verified' });
    const startLsn = formatLsn(segno * BigInt(SEGMENT_BYTES) + 40n);
    const manifest = {
      ...seeded,
      content: {
        ...seeded.content,
        physical: {
          startLsn,
          stopLsn: startLsn,
          timeline: 1,
          startedAt: new Date().toISOString(),
          stoppedAt: new Date().toISOString(),
          serverVersion: '15',
          systemIdentifier: '1',
          walSegmentBytes: SEGMENT_BYTES,
          databases: ['postgres'],
          backupManifest: { 'PostgreSQL-Backup-Manifest-Version': 1 },
        },
      },
    };
    await store.writeJson(manifestBlobName(TARGET, manifest.backupId), manifest, { ifNoneMatch: '*' });
    await store.delete(segmentBlobName(TARGET, 1, lost));
    const three = await start('three');
    const gap = await waitFor(
      async () => {
        const events = (await redis.xrange(`tidemark-${namespace}:events`, '-', '+')) as [string, string[]][];
        const found = events.find(([, fields]) => fields[fields.indexOf('type') + 1] === 'tidemark.wal.gap');
        return found
          ? (JSON.parse(found[1][found[1].indexOf('event') + 1] ?? '{}') as { data: unknown })
          : false;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'a tidemark.wal.gap event' },
    );
    const data = gap.data as {
      problems: { kind: string; file: string }[];
      problemCount: number;
      checkedFrom: string;
    };
    assert.deepEqual(
      data.problems.map((p) => [p.kind, p.file]),
      [['missing-segment', lost]],
    );
    assert.equal(data.problemCount, 1);
    assert.equal(data.checkedFrom, first);
    three.child.kill('SIGTERM');
    await three.exited;
  });
});
