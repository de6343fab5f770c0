import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MemoryLock } from '@tidemark/in-memory';
import { type ScratchCluster, startScratchCluster, waitFor } from '@tidemark/testing';
import { parseLsn, parseSegmentFileName, segmentFileName, segmentStart, type Timeline } from '@tidemark/wal';
import type { CommitResult, CommitSegmentInput, ShipPartialInput } from '@tidemark/wal-archive';
import { ArchiverService, slotName, WalReceiver, type WalSink } from './index';

const SEGMENT_BYTES = 1 << 20;

/** An in-memory archive: segments in commit order, sha256 per file; a different duplicate is an error. */
class RecordingSink implements WalSink {
  readonly segments: string[] = [];
  readonly hashes = new Map<string, string>();
  readonly partials = new Map<string, string>();
  readonly removedPartials: string[] = [];
  failNext = 0;
  gate: Promise<void> | undefined;
  waiting: string[] = [];

  async commitSegment(input: CommitSegmentInput): Promise<CommitResult> {
    this.waiting.push(input.file);
    if (this.gate) await this.gate;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('blob storage unavailable');
    }
    const sha256 = await hashOf(input.path);
    const known = this.hashes.get(input.file);
    if (known !== undefined && known !== sha256) throw new Error(`different duplicate of ${input.file}`);
    if (known === undefined) this.segments.push(input.file);
    this.hashes.set(input.file, sha256);
    return { result: known ? 'duplicate' : 'archived', rawBytes: SEGMENT_BYTES, compressedBytes: 1, sha256 };
  }

  async commitHistory(input: { path: string }): Promise<CommitResult> {
    return { result: 'archived', rawBytes: 1, compressedBytes: 1, sha256: await hashOf(input.path) };
  }

  async shipPartial(input: ShipPartialInput): Promise<CommitResult> {
    const sha256 = await hashOf(input.path);
    this.partials.set(input.file, sha256);
    return { result: 'archived', rawBytes: SEGMENT_BYTES, compressedBytes: 1, sha256 };
  }

  removePartial(_targetId: string, _timeline: Timeline, file: string): Promise<void> {
    this.partials.delete(file);
    this.removedPartials.push(file);
    return Promise.resolve();
  }

  newestSegment(): Promise<{ timeline: Timeline; file: string } | null> {
    const file = [...this.segments].sort().at(-1);
    return Promise.resolve(file ? { timeline: 1, file } : null);
  }
}

async function hashOf(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

function segno(file: string): bigint {
  const segment = parseSegmentFileName(file, SEGMENT_BYTES);
  assert.ok(segment, file);
  return segment.segno;
}

function assertNoGap(files: string[]): void {
  const numbers = files.map(segno);
  for (let i = 1; i < numbers.length; i++)
    assert.equal(numbers[i], (numbers[i - 1] as bigint) + 1n, files.join());
}

describe('archiving (real PostgreSQL 15, pg_receivewal)', () => {
  let cluster: ScratchCluster;
  let work: string;
  let table = 0;
  const receivers: WalReceiver[] = [];

  /** Writes WAL and closes the segment: pg_switch_wal does nothing on an idle server. */
  const switchWal = async (times = 1) => {
    for (let i = 0; i < times; i++) {
      table++;
      await cluster.query(`CREATE TABLE t${String(table)} AS SELECT generate_series(1, 2000) AS n`);
      await cluster.query('SELECT pg_switch_wal()');
    }
  };
  const restartLsn = async (targetId: string) => {
    const rows = await cluster.query<{ restart_lsn: string }>(
      `SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = '${slotName(targetId)}'`,
    );
    return parseLsn((rows[0] as { restart_lsn: string }).restart_lsn);
  };
  /** Closes two segments, then waits until the sink holds every segment up to the server's current one. */
  const archivedUpToNow = async (sink: RecordingSink) => {
    await switchWal(2);
    const rows = await cluster.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const closed = segmentFileName(
      { timeline: 1, segno: parseLsn((rows[0] as { lsn: string }).lsn) / BigInt(SEGMENT_BYTES) - 1n },
      SEGMENT_BYTES,
    );
    await waitFor(() => Promise.resolve(sink.segments.includes(closed)), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: `segment ${closed}`,
    });
  };
  const receiver = (
    targetId: string,
    sink: WalSink,
    extra: Partial<ConstructorParameters<typeof WalReceiver>[0]>,
  ) => {
    const created = new WalReceiver({
      targetId,
      url: cluster.replicationUrl,
      sink,
      directory: join(work, `${targetId}-${String(receivers.length)}`),
      pollMs: 100,
      retryBaseMs: 100,
      ...extra,
    });
    receivers.push(created);
    return created;
  };

  before(async () => {
    cluster = await startScratchCluster({ walSegmentMiB: 1 });
    work = await mkdtemp(join(tmpdir(), 'tidemark-archiving-'));
  });
  after(async () => {
    for (const each of receivers) await each.stop({ ship: false });
    await cluster.remove();
    await rm(work, { recursive: true, force: true });
  });

  it('creates the named slot once, ships segments in order, advances the slot only after the commit', async () => {
    const sink = new RecordingSink();
    let openGate: () => void = () => undefined;
    sink.gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const first = receiver('db-a', sink, {});
    await first.start();
    const slots = await cluster.query(
      `SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'tidemark_db_a'`,
    );
    assert.equal(slots.length, 1);
    assert.ok(!first.spawnedArgs.join(' ').includes(cluster.replicationPassword));
    const cmdline = await readFile(`/proc/${String(first.pid)}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes(cluster.replicationPassword));
    assert.ok(cmdline.includes('user='));
    await switchWal(3);
    const pending = await waitFor(() => Promise.resolve(sink.waiting[0]), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'a commit',
    });
    // The slot still holds the segment being committed: it moves only past committed segments.
    const nextAfterPending = segmentStart({ timeline: 1, segno: segno(pending) + 1n }, SEGMENT_BYTES);
    assert.ok((await restartLsn('db-a')) < nextAfterPending);
    openGate();
    await waitFor(() => Promise.resolve(sink.segments.length >= 3), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: '3 segments',
    });
    assertNoGap(sink.segments);
    const last = sink.segments.at(-1) as string;
    await waitFor(
      async () =>
        (await restartLsn('db-a')) >= segmentStart({ timeline: 1, segno: segno(last) + 1n }, SEGMENT_BYTES),
      { timeoutMs: 5000, intervalMs: 100, what: 'the slot advanced' },
    );
    await first.stop();
    const again = receiver('db-a', sink, {});
    assert.equal(await again.slot.ensure(), false);
  });

  it('ships the partial segment within shipPartialSeconds, replaces it, and removes it once complete', async () => {
    const sink = new RecordingSink();
    const streaming = receiver('db-b', sink, { shipPartialSeconds: 1 });
    await streaming.start();
    await cluster.query('CREATE TABLE partial1 AS SELECT generate_series(1, 500) AS n');
    const shippedAt = Date.now();
    const firstHash = await waitFor(() => Promise.resolve([...sink.partials.values()][0]), {
      timeoutMs: 5000,
      intervalMs: 50,
      what: 'a shipped partial',
    });
    assert.ok(Date.now() - shippedAt < 3500);
    await cluster.query('CREATE TABLE partial2 AS SELECT generate_series(1, 500) AS n');
    await waitFor(() => Promise.resolve([...sink.partials.values()][0] !== firstHash), {
      timeoutMs: 5000,
      intervalMs: 50,
      what: 'a replaced partial',
    });
    const partialFile = [...sink.partials.keys()][0] as string;
    await switchWal();
    await waitFor(() => Promise.resolve(sink.removedPartials.includes(partialFile)), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the partial removed',
    });
    assert.ok(sink.segments.includes(partialFile));
    await streaming.stop();
  });

  it('continues after a crash from an empty directory with no gap and no different duplicate', async () => {
    const sink = new RecordingSink();
    const crashed = receiver('db-c', sink, { shipPartialSeconds: 0.2 });
    await crashed.start();
    await archivedUpToNow(sink);
    await cluster.query('CREATE TABLE before_crash AS SELECT generate_series(1, 500) AS n');
    const crashedPartial = await waitFor(() => Promise.resolve([...sink.partials.keys()][0]), {
      timeoutMs: 5000,
      intervalMs: 50,
      what: 'a shipped partial',
    });
    await crashed.abort();
    await switchWal(3);
    const successor = receiver('db-c', sink, {});
    await successor.start();
    await archivedUpToNow(sink);
    // The successor removes the partial its predecessor shipped once that segment is complete.
    assert.ok(sink.removedPartials.includes(crashedPartial));
    assert.ok(!sink.partials.has(crashedPartial));
    assertNoGap(sink.segments);
    await successor.stop();
  });

  it('keeps a segment whose upload fails and ships it on a later attempt', async () => {
    const sink = new RecordingSink();
    sink.failNext = 2;
    const failures: { file: string; attempts: number; kept: boolean }[] = [];
    const directory = join(work, 'db-d-failing');
    const flaky = receiver('db-d', sink, {
      directory,
      onFailure: (file, attempts) =>
        failures.push({ file, attempts, kept: existsSync(join(directory, file)) }),
    });
    await flaky.start();
    await switchWal(2);
    await waitFor(() => Promise.resolve(sink.segments.length >= 2), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: '2 segments',
    });
    assert.deepEqual(
      failures.map((f) => [f.attempts, f.kept]),
      [
        [1, true],
        [2, true],
      ],
    );
    assert.equal(failures[0]?.file, sink.segments[0]);
    assertNoGap(sink.segments);
    await flaky.stop();
  });

  it('restarts a pg_receivewal that died and streams on from where it stopped', async () => {
    const sink = new RecordingSink();
    const supervised = receiver('db-f', sink, {});
    await supervised.start();
    await archivedUpToNow(sink);
    const killed = supervised.pid as number;
    process.kill(killed, 'SIGKILL');
    await archivedUpToNow(sink);
    assert.notEqual(supervised.pid, killed);
    assertNoGap(sink.segments);
    await supervised.stop();
  });

  it('streams a target from one replica only and hands it over when the lease expires', async () => {
    const lock = new MemoryLock();
    const sink = new RecordingSink();
    const service = (owner: string) =>
      new ArchiverService({
        targets: [{ id: 'db-e', url: cluster.replicationUrl }],
        sink,
        lock,
        leaseTtlMs: 300,
        owner,
        spoolDirectory: join(work, owner),
        acquireEveryMs: 100,
        pollMs: 100,
      });
    const one = service('replica-1');
    const two = service('replica-2');
    await one.start();
    await two.start();
    try {
      await handOver(one, two, lock, sink);
    } finally {
      await one.stop();
      await two.stop();
    }
    assert.equal(await lock.holder('db-e'), null);
  });

  async function handOver(
    one: ArchiverService,
    two: ArchiverService,
    lock: MemoryLock,
    sink: RecordingSink,
  ): Promise<void> {
    assert.deepEqual(one.streaming(), ['db-e']);
    assert.deepEqual(two.streaming(), []);
    await switchWal();
    await waitFor(() => Promise.resolve(sink.segments.length >= 1), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'a segment',
    });
    const firstPid = one.receiverOf('db-e')?.pid;
    // replica-1's TTL ran out and replica-2's SET NX won the race (MemoryLock has no TTL of its own).
    lock.expire('db-e');
    await lock.acquire('db-e', 'replica-2');
    await waitFor(() => Promise.resolve(two.streaming().length === 1 && one.streaming().length === 0), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the handover',
    });
    assert.equal(await lock.holder('db-e'), 'replica-2');
    assert.ok(firstPid !== undefined);
    // The lease is given up at once; the killed pg_receivewal is reaped a moment later.
    await waitFor(() => Promise.resolve(!existsSync(`/proc/${String(firstPid)}/cmdline`)), {
      timeoutMs: 5000,
      intervalMs: 50,
      what: "replica-1's pg_receivewal gone",
    });
    await switchWal(2);
    await waitFor(() => Promise.resolve(sink.segments.length >= 3), {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: '3 segments',
    });
    assertNoGap(sink.segments);
  }
});
