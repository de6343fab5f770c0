import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EventDetails, EventType } from '@tidemark/events';
import { MemoryBlobStore } from '@tidemark/in-memory';
import type { Manifest } from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import { ConfigError, validateConfig } from '@tidemark/policy';
import { sourceKinds } from '@tidemark/source-kinds';
import { seedManifest } from '@tidemark/testing-retention';
import { segmentBlobName, type PhysicalBackup } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { archivedTargets, ContinuityWatch, type ShippedFile, WalTelemetry, windowBase } from './index';
import { routedSink } from './archiver-runner';

const TARGET = 'orders-cluster';
const SEGMENT_BYTES = 1 << 20;
const RECEIVED = new Date('2026-12-03T08:00:00.000Z');

interface Emitted {
  type: EventType;
  targetId: string;
  data: unknown;
}

/** Records what would be published. */
class RecordingEvents {
  readonly emitted: Emitted[] = [];
  emit<T extends EventType>(type: T, targetId: string, _backupId: string | undefined, data: EventDetails<T>) {
    this.emitted.push({ type, targetId, data });
    return Promise.resolve({} as never);
  }
  of(type: EventType): Emitted[] {
    return this.emitted.filter((event) => event.type === type);
  }
}

function segmentName(segno: number, timeline = 1): string {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}00000000${hex(segno)}`;
}

function shipped(segno: number, extra: Partial<ShippedFile> = {}): ShippedFile {
  return {
    targetId: TARGET,
    kind: 'segment',
    timeline: 1,
    file: segmentName(segno),
    rawBytes: SEGMENT_BYTES,
    compressedBytes: 1000,
    result: 'archived',
    receivedAt: new Date(RECEIVED.getTime() + segno * 1000),
    route: 'stream',
    ...extra,
  };
}

async function metricValue(metrics: TidemarkMetrics, name: string, labels: Record<string, string>) {
  const metric = metrics.registry.getSingleMetric(name);
  assert.ok(metric, name);
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))?.value;
}

describe('WalTelemetry', () => {
  test('batches tidemark.wal.archived per target, counts every file, and moves the last-archived time forward only', async () => {
    const metrics = new TidemarkMetrics('archiver-test');
    const events = new RecordingEvents();
    const telemetry = new WalTelemetry({
      metrics,
      events,
      tierOf: () => 'Cool',
      batchMs: 60_000,
      batchFiles: 3,
    });
    telemetry.shipped([shipped(1), shipped(2)]);
    assert.equal(events.of('tidemark.wal.archived').length, 0, 'below the batch size nothing is published');
    telemetry.shipped([shipped(3, { result: 'duplicate' })]);
    const [first] = events.of('tidemark.wal.archived');
    assert.deepEqual(first?.data, {
      timeline: 1,
      segments: 3,
      partials: 0,
      histories: 0,
      sizes: { raw: 3 * SEGMENT_BYTES, compressed: 3000 },
      last: { file: segmentName(3), receivedAt: new Date(RECEIVED.getTime() + 3000).toISOString() },
      route: 'stream',
    });
    // A partial received before the newest segment does not move the gauge back.
    telemetry.shipped([shipped(2, { kind: 'partial', result: 'partial' })]);
    // A new timeline closes the batch before it.
    telemetry.shipped([shipped(4, { timeline: 2, file: segmentName(4, 2) })]);
    await telemetry.close();
    const batches = events.of('tidemark.wal.archived');
    assert.equal(batches.length, 3);
    assert.deepEqual(
      batches.map((e) => (e.data as { timeline: number; partials: number }).partials),
      [0, 1, 0],
    );
    assert.equal(
      await metricValue(metrics, 'tidemark_wal_last_archived_timestamp_seconds', { target: TARGET }),
      (RECEIVED.getTime() + 4000) / 1000,
    );
    assert.equal(
      await metricValue(metrics, 'tidemark_wal_segments_total', { target: TARGET, result: 'archived' }),
      3,
    );
    assert.equal(
      await metricValue(metrics, 'tidemark_wal_segments_total', { target: TARGET, result: 'duplicate' }),
      1,
    );
    assert.equal(
      await metricValue(metrics, 'tidemark_wal_segments_total', { target: TARGET, result: 'partial' }),
      1,
    );
    assert.equal(
      await metricValue(metrics, 'tidemark_wal_archive_bytes', { target: TARGET, tier: 'Cool' }),
      3000,
    );
    const lag = await metricValue(metrics, 'tidemark_wal_archive_lag_seconds', { target: TARGET });
    assert.ok(lag !== undefined && lag > 0, 'the lag is computed at scrape');
  });

  test('a failure is counted every time and published at attempts 1, 2, 4, 8 without the secret', async () => {
    const metrics = new TidemarkMetrics('archiver-test');
    const events = new RecordingEvents();
    const telemetry = new WalTelemetry({ metrics, events, tierOf: () => 'Cool' });
    const error = new Error(
      'connect to postgres://tidemark_backup:s3cret-pass@db:5432/postgres failed\nstack',
    );
    for (let attempt = 1; attempt <= 9; attempt++) telemetry.failed(TARGET, segmentName(7), attempt, error);
    await telemetry.close();
    const failures = events.of('tidemark.wal.archive_failed');
    assert.deepEqual(
      failures.map((e) => (e.data as { attempts: number }).attempts),
      [1, 2, 4, 8],
    );
    const data = failures[0]?.data as { file: string; error: { code: string; message: string } };
    assert.equal(data.file, segmentName(7));
    assert.ok(!data.error.message.includes('s3cret-pass'), data.error.message);
    assert.ok(!data.error.message.includes('stack'));
    assert.equal(
      await metricValue(metrics, 'tidemark_wal_segments_total', { target: TARGET, result: 'failed' }),
      9,
    );
  });
});

describe('ContinuityWatch', () => {
  let dir: string;
  let store: MemoryBlobStore;
  let archive: WalArchive;
  let events: RecordingEvents;
  let metrics: TidemarkMetrics;

  const base = (startSegno: number, timeline = 1): PhysicalBackup => ({
    startLsn: `0/${(startSegno * SEGMENT_BYTES + 0x28).toString(16).toUpperCase()}`,
    stopLsn: `0/${(startSegno * SEGMENT_BYTES + 0x138).toString(16).toUpperCase()}`,
    timeline,
    startedAt: RECEIVED.toISOString(),
    stoppedAt: RECEIVED.toISOString(),
    serverVersion: '15.8',
    systemIdentifier: '7300000000000000001',
    walSegmentBytes: SEGMENT_BYTES,
    databases: ['postgres'],
    backupManifest: { 'PostgreSQL-Backup-Manifest-Version': 1 },
  });
  const manifest = (
    takenAt: string,
    status: Manifest['status'],
    physical: PhysicalBackup,
    deleting = false,
  ) => {
    const seeded = seedManifest('memory', { targetId: TARGET, takenAt: new Date(takenAt), status });
    return {
      ...seeded,
      content: { ...seeded.content, physical },
      deletion: deleting ? { at: takenAt, reason: 'retention' } : null,
    };
  };
  const watch = (manifests: Manifest[]) =>
    new ContinuityWatch({
      manifests: () => Promise.resolve(manifests),
      archiveOf: () => archive,
      events,
      metrics,
      windowDaysOf: () => 7,
      held: () => [TARGET],
      intervalMs: 60_000,
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-continuity-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const seedArchive = async (from: number, to: number) => {
    store = new MemoryBlobStore();
    archive = new WalArchive(store, { tier: 'Cool' });
    events = new RecordingEvents();
    metrics = new TidemarkMetrics('archiver-test');
    for (let segno = from; segno <= to; segno++) {
      const path = join(dir, `seg-${String(segno)}-${randomBytes(3).toString('hex')}`);
      const data = Buffer.alloc(SEGMENT_BYTES);
      randomBytes(4096).copy(data);
      await writeFile(path, data);
      const file = segmentName(segno);
      await archive.commitSegment({
        targetId: TARGET,
        timeline: 1,
        file,
        path,
        receivedAt: RECEIVED,
        route: 'stream',
      });
    }
  };

  test('the walk starts at the base serving the window (else the oldest kept): failed, corrupt and deleting ones do not count', () => {
    const manifests = [
      manifest('2026-12-01T02:00:00Z', 'failed', base(1)),
      manifest('2026-12-01T03:00:00Z', 'verified', base(2), true),
      manifest('2026-12-02T02:00:00Z', 'corrupt', base(3)),
      manifest('2026-12-02T03:00:00Z', 'verified', base(4)),
      manifest('2026-12-03T02:00:00Z', 'uploaded', base(6)),
    ];
    // No base ended before the window's start: the oldest kept one.
    assert.equal(windowBase(manifests, 7, new Date('2026-12-04T00:00:00Z'))?.startLsn, base(4).startLsn);
    // Bases 4 and 6 ended before the window's start (all stop at RECEIVED): the newest of them.
    assert.equal(windowBase(manifests, 1, new Date('2027-01-01T00:00:00Z'))?.startLsn, base(6).startLsn);
    assert.equal(windowBase([manifests[0] as Manifest], 7), null);
  });

  test('a whole archive: no event, every file checked once, bytes per tier recorded', async () => {
    await seedArchive(3, 8);
    const watcher = watch([manifest('2026-12-02T03:00:00Z', 'verified', base(4))]);
    const outcome = await watcher.check(TARGET);
    assert.ok(outcome.report);
    assert.deepEqual(outcome.report.problems, []);
    assert.equal(outcome.report.checkedFrom, segmentName(4));
    assert.equal(outcome.report.checkedTo, segmentName(8));
    assert.equal(outcome.verified, 5, 'segments 4..8 downloaded and hashed; 3 is before the base backup');
    assert.equal((await watcher.check(TARGET)).verified, 0, 'a checked segment is not read again');
    assert.equal(events.emitted.length, 0);
    const bytes = await metricValue(metrics, 'tidemark_wal_archive_bytes', { target: TARGET, tier: 'Cool' });
    assert.ok(bytes !== undefined && bytes > 0);
    assert.equal(
      await metricValue(metrics, 'tidemark_wal_archive_bytes', { target: TARGET, tier: 'Hot' }),
      0,
    );
  });

  test('a deleted segment and a flipped byte are one tidemark.wal.gap naming both', async () => {
    await seedArchive(4, 9);
    await store.delete(segmentBlobName(TARGET, 1, segmentName(6)));
    store.corrupt(segmentBlobName(TARGET, 1, segmentName(8)), (data) => {
      data[data.length >> 1] = (data[data.length >> 1] ?? 0) ^ 0xff;
      return data;
    });
    const outcome = await watch([manifest('2026-12-02T03:00:00Z', 'verified', base(4))]).check(TARGET);
    const gaps = events.of('tidemark.wal.gap');
    assert.equal(gaps.length, 1);
    const data = gaps[0]?.data as {
      problems: { kind: string; file: string }[];
      problemCount: number;
      checkedFrom: string;
      checkedTo: string;
    };
    assert.deepEqual(
      data.problems.map((p) => [p.kind, p.file]),
      [
        ['missing-segment', segmentName(6)],
        ['checksum-mismatch', segmentName(8)],
      ],
    );
    assert.equal(data.problemCount, 2);
    assert.equal(data.checkedFrom, segmentName(4));
    assert.equal(data.checkedTo, segmentName(9));
    assert.equal(outcome.report?.problems.length, 2);
  });

  test('more than 50 problems: 50 listed, all counted', async () => {
    await seedArchive(70, 70);
    await watch([manifest('2026-12-02T03:00:00Z', 'verified', base(2))]).check(TARGET);
    const data = events.of('tidemark.wal.gap')[0]?.data as { problems: unknown[]; problemCount: number };
    assert.equal(data.problems.length, 50);
    assert.equal(data.problemCount, 68, 'segments 2..69 are missing');
  });

  test('no kept base backup yet: nothing to walk from, nothing reported', async () => {
    await seedArchive(1, 2);
    const outcome = await watch([]).check(TARGET);
    assert.equal(outcome.report, null);
    assert.equal(events.emitted.length, 0);
  });
});

describe('archivedTargets', () => {
  const config = () =>
    validateConfig(
      {
        policies: { p: { schedule: '0 2 * * *', tiering: { initial: 'Hot' } } },
        targets: [
          { id: 'logical', kind: 'postgres', url: '${LOGICAL_URL}', policy: 'p' },
          { id: 'streamed', kind: 'postgres', method: 'physical', url: '${STREAMED_URL}', policy: 'p' },
          {
            id: 'spooled',
            kind: 'postgres',
            method: 'physical',
            url: 'postgres://u@db/postgres',
            policy: 'p',
            pitr: { route: 'archive-command', spool: '/var/spool/wal', shipPartialSeconds: 5, windowDays: 3 },
          },
        ],
      },
      'tidemark.yaml',
      { kinds: sourceKinds() },
    );

  test('every physical postgres target, its url resolved, route, spool and tier; other targets need no secret', () => {
    const targets = archivedTargets(config(), { STREAMED_URL: 'postgres://repl:pw@db:5432/postgres' });
    assert.deepEqual(targets, [
      {
        id: 'streamed',
        url: 'postgres://repl:pw@db:5432/postgres',
        route: 'slot',
        tier: 'Hot',
        windowDays: 7,
        maxLagSeconds: 300,
      },
      {
        id: 'spooled',
        url: 'postgres://u@db/postgres',
        route: 'archive-command',
        spool: '/var/spool/wal',
        shipPartialSeconds: 5,
        tier: 'Hot',
        windowDays: 3,
        maxLagSeconds: 300,
      },
    ]);
  });

  test('a missing variable of a physical target is a ConfigError naming the path and the variable', () => {
    assert.throws(
      () => archivedTargets(config(), {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.length === 1 &&
        error.issues[0]?.path === 'targets[1].url (streamed)' &&
        error.issues[0].message === 'environment variable STREAMED_URL is not set',
    );
  });

  test("an encrypting policy: its targets' WAL goes to the resolved recipients; an unset one stops the start", () => {
    const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
    const sealed = validateConfig(
      {
        policies: {
          p: { schedule: '0 2 * * *' },
          sealed: { schedule: '0 2 * * *', encryption: { recipients: ['${OPS}'] } },
        },
        targets: [
          { id: 'plain', kind: 'postgres', method: 'physical', url: 'postgres://u@db/postgres', policy: 'p' },
          {
            id: 'secret',
            kind: 'postgres',
            method: 'physical',
            url: 'postgres://u@db/postgres',
            policy: 'sealed',
          },
        ],
      },
      'tidemark.yaml',
      { kinds: sourceKinds() },
    );
    const targets = archivedTargets(sealed, { OPS: recipient });
    assert.equal(targets.find((t) => t.id === 'plain')?.recipients, undefined);
    assert.deepEqual(targets.find((t) => t.id === 'secret')?.recipients, [recipient]);
    assert.throws(
      () => archivedTargets(sealed, {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === 'policies.sealed.encryption.recipients[0]: environment variable OPS is not set',
    );
  });

  test('immutability (storage-wide or the policy own) locks segments and history files, never partials', async () => {
    const locking = validateConfig(
      {
        storage: { immutability: { mode: 'unlocked', days: 3 } },
        policies: {
          p: { schedule: '0 2 * * *' },
          strict: { schedule: '0 2 * * *', immutability: { mode: 'locked', days: 35 } },
        },
        targets: [
          { id: 'short', kind: 'postgres', method: 'physical', url: 'postgres://u@db/postgres', policy: 'p' },
          {
            id: 'long',
            kind: 'postgres',
            method: 'physical',
            url: 'postgres://u@db/postgres',
            policy: 'strict',
          },
        ],
      },
      'tidemark.yaml',
      { kinds: sourceKinds() },
    );
    const targets = archivedTargets(locking, {});
    assert.deepEqual(targets.find((t) => t.id === 'short')?.immutability, { mode: 'unlocked', days: 3 });
    assert.deepEqual(targets.find((t) => t.id === 'long')?.immutability, { mode: 'locked', days: 35 });

    const received: [string, { protection?: unknown }][] = [];
    const archive = {
      commitSegment: (input: { protection?: unknown }) => received.push(['segment', input]),
      commitHistory: (input: { protection?: unknown }) => received.push(['history', input]),
      shipPartial: (input: { protection?: unknown }) => received.push(['partial', input]),
    } as unknown as WalArchive;
    const sink = routedSink(
      () => archive,
      (id) => targets.find((t) => t.id === id),
    );
    const receivedAt = new Date('2026-12-01T00:00:00.000Z');
    const base = {
      timeline: 1,
      file: '000000010000000000000003',
      path: '/x',
      receivedAt,
      route: 'stream' as const,
    };
    await sink.commitSegment({ ...base, targetId: 'short' });
    await sink.commitHistory({ targetId: 'long', timeline: 2, path: '/h', receivedAt, route: 'stream' });
    await sink.shipPartial({ ...base, targetId: 'long' });
    const day = 86_400_000;
    assert.deepEqual(
      received.map(([kind, input]) => [kind, input.protection]),
      [
        // 'short': the 7-day window is longer than its 3-day lock, so the window decides.
        ['segment', { until: new Date(receivedAt.getTime() + 7 * day), mode: 'unlocked' }],
        ['history', { until: new Date(receivedAt.getTime() + 35 * day), mode: 'locked' }],
        ['partial', undefined],
      ],
    );
  });
});
