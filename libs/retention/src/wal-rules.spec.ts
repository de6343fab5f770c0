import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AccessTier } from '@tidemark/manifest';
import { physicalOf } from '@tidemark/testing-retention';
import {
  historyFileName,
  parseTimelineHistory,
  segmentBlobName,
  segmentFileName,
  type ArchiveState,
  type TimelineSwitch,
} from '@tidemark/wal';
import type { ArchivedWalFile } from '@tidemark/wal-archive';
import { recoveryWindowOf } from './recovery-window';
import { walHoldOf } from './retention-plan';
import { planWalRetention, windowHolds, type WalHolder } from './wal-retention';

const NOW = new Date('2026-12-03T12:00:00.000Z');
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY);

function file(
  timeline: number,
  segno: number,
  receivedDaysAgo: number,
  kind: ArchivedWalFile['kind'] = 'segment',
  tier = 'Cool',
): ArchivedWalFile {
  const name =
    kind === 'history' ? historyFileName(timeline) : segmentFileName({ timeline, segno: BigInt(segno) });
  return {
    blobName: segmentBlobName('t', timeline, name) + (kind === 'partial' ? '.partial' : ''),
    timeline,
    file: name,
    kind,
    encrypted: false,
    metadata: {
      sha256: 'a'.repeat(64),
      size: 100,
      receivedat: daysAgo(receivedDaysAgo).toISOString(),
      timeline,
      route: 'stream',
    },
    compressedBytes: 10,
    tier,
    lastModified: daysAgo(receivedDaysAgo),
  };
}

function holder(
  id: string,
  startSegno: number,
  hold: WalHolder['hold'],
  tier: AccessTier | null = 'Hot',
  servesWindow = false,
  timeline = 1,
): WalHolder {
  return {
    backupId: id,
    physical: physicalOf({ targetId: 't', takenAt: daysAgo(30), status: 'verified', startSegno, timeline }),
    hold,
    tier,
    servesWindow,
  };
}

function decisions(plan: ReturnType<typeof planWalRetention>): Record<string, string> {
  return Object.fromEntries(
    plan.files.map((f) => [
      `${f.timeline}:${Number.parseInt(f.file.slice(16), 16) || f.file}`,
      `${f.action} ${f.reasons.join('; ')}${f.tierMove ? ` → ${f.tierMove.to}` : ''}`,
    ]),
  );
}

const histories = (entries: [number, string][]) =>
  new Map<number, readonly TimelineSwitch[]>(entries.map(([tl, text]) => [tl, parseTimelineHistory(text)]));

describe('planWalRetention', () => {
  test('timelines: WAL of a timeline the kept base leads to stays; of another goes once older than the window', () => {
    // Base on timeline 1 starting in segment 10. Timeline 2 branched off 1 after the base (segment 15): its WAL
    // continues the base. Timeline 3 branched off 1 at segment 5, before the base started: the base is not on it.
    // Timeline 4 has no readable history: kept, its ancestry unknown.
    const files = [
      file(1, 9, 20),
      file(1, 12, 20),
      file(2, 15, 19),
      file(2, 16, 2),
      file(3, 6, 20),
      file(3, 7, 1),
      file(4, 20, 20),
      file(2, 0, 19, 'history'),
      file(3, 0, 20, 'history'),
    ];
    const plan = planWalRetention({
      files,
      histories: histories([
        [2, '1\t0/F000000\tpromoted'],
        [3, '1\t0/5000000\tpromoted'],
      ]),
      holders: [holder('B', 10, 'onward')],
      windowDays: 7,
      now: NOW,
    });
    assert.deepEqual(decisions(plan), {
      '1:9': 'delete older than the 7-day window and than the start of base B, the oldest kept',
      '1:12': 'keep needed by base B',
      '2:15': 'keep needed by base B',
      '2:16': 'keep needed by base B; inside the 7-day window',
      '3:6': 'delete older than the 7-day window, on timeline 3, which no kept base backup leads to',
      '3:7': 'keep inside the 7-day window',
      '4:20': 'keep needed by base B',
      '2:00000002.history': 'keep timeline history',
      '3:00000003.history': 'keep timeline history',
    });
  });

  test('a pinned base holds only its own range; nothing kept means old WAL goes; files without metadata stay', () => {
    const stray = { ...file(1, 3, 30), metadata: null };
    const plan = planWalRetention({
      files: [file(1, 4, 30), file(1, 5, 30), file(1, 6, 30), stray, file(1, 9, 1)],
      histories: new Map(),
      holders: [
        {
          ...holder('P', 4, 'range'),
          physical: { ...holder('P', 4, 'range').physical, stopLsn: '0/5000100' },
        },
      ],
      windowDays: 7,
      now: NOW,
    });
    assert.deepEqual(decisions(plan), {
      '1:3': 'keep not written by Tidemark (no WAL metadata): left alone',
      '1:4': 'keep pinned base P',
      '1:5': 'keep pinned base P',
      '1:6': 'delete older than the 7-day window, and no kept base backup needs it',
      '1:9': 'keep inside the 7-day window',
    });
  });

  test('tiers: WAL follows the warmest base holding it, never colder than Cold while it serves the window', () => {
    const files = [
      file(1, 10, 40),
      file(1, 20, 20),
      file(1, 30, 10),
      file(1, 31, 1),
      file(1, 32, 1, 'partial'),
    ];
    const plan = planWalRetention({
      files,
      histories: new Map(),
      holders: [
        holder('old', 10, 'onward', 'Archive'),
        holder('anchor', 20, 'onward', 'Archive', true),
        holder('new', 30, 'onward', 'Cold'),
      ],
      windowDays: 7,
      now: NOW,
    });
    assert.deepEqual(decisions(plan), {
      '1:10': 'keep needed by base old → Archive',
      '1:20': 'keep needed by base anchor → Cold',
      '1:30': 'keep needed by base new → Cold',
      '1:31': 'keep needed by base new; inside the 7-day window → Cold',
      '1:32': 'keep needed by base new; inside the 7-day window',
    });
    // Never warmer: WAL already colder than its base stays where it is.
    const warm = planWalRetention({
      files: [file(1, 10, 40, 'segment', 'Cold')],
      histories: new Map(),
      holders: [holder('old', 10, 'onward', 'Hot')],
      windowDays: 7,
      now: NOW,
    });
    assert.equal(warm.files[0]?.tierMove, null);
  });

  test('ranges: consecutive segments with the same fate, split at a missing segment', () => {
    const plan = planWalRetention({
      files: [file(1, 1, 30), file(1, 2, 30), file(1, 4, 30), file(1, 5, 1)],
      histories: new Map(),
      holders: [],
      windowDays: 7,
      now: NOW,
    });
    assert.deepEqual(
      plan.ranges.map((r) => [r.first.slice(-2), r.last.slice(-2), r.count, r.bytes, r.action]),
      [
        ['01', '02', 2, 20, 'delete'],
        ['04', '04', 1, 10, 'delete'],
        ['05', '05', 1, 10, 'keep'],
      ],
    );
    assert.deepEqual(plan.deleted, { count: 3, bytes: 30 });
  });
});

describe('windowHolds and walHoldOf', () => {
  const base = (id: string, startSegno: number, stoppedDaysAgo: number) => ({
    backupId: id,
    physical: physicalOf({
      targetId: 't',
      takenAt: daysAgo(stoppedDaysAgo + 0.001),
      stoppedAt: daysAgo(stoppedDaysAgo),
      status: 'verified',
      startSegno,
    }),
  });
  const state = (segnos: number[], receivedDaysAgo: (s: number) => number): ArchiveState => ({
    files: segnos.map((s) => ({
      timeline: 1,
      file: segmentFileName({ timeline: 1, segno: BigInt(s) }),
      kind: 'segment' as const,
      receivedAt: daysAgo(receivedDaysAgo(s)),
    })),
    histories: new Map(),
  });
  const age = (s: number) => 20 - s;

  test('the newest restorable base ended before the window start; after a gap, the first base past it', () => {
    const all = Array.from({ length: 20 }, (_, s) => s);
    const bases = [
      base('d15', 5, 15),
      base('d10', 10, 10),
      base('d8', 12, 8),
      base('d3', 17, 3),
      base('d1', 19, 1),
    ];
    assert.deepEqual(
      [...windowHolds(bases, state(all, age), 7, NOW)],
      [['d8', 'covers the start of the 7-day PITR window']],
    );
    // Segment 15 is missing: base d8 reaches only to segment 14; d3 is the first restorable point after the gap.
    const gap = all.filter((s) => s !== 15);
    assert.deepEqual([...windowHolds(bases, state(gap, age), 7, NOW).keys()], ['d8', 'd3']);
    // The WAL of d8's own range is missing: the newest restorable base before the window is d10; d8 stays too,
    // in case the archive was misread.
    const missing = all.filter((s) => s !== 12);
    assert.deepEqual([...windowHolds(bases, state(missing, age), 7, NOW)].slice(0, 2), [
      ['d8', 'covers the start of the 7-day PITR window (though the archive does not reach its stop LSN)'],
      ['d10', 'covers the start of the 7-day PITR window'],
    ]);
    // Every base younger than the window: the oldest is the earliest point there is.
    assert.deepEqual(
      [...windowHolds(bases.slice(3), state(all, age), 7, NOW)],
      [['d3', 'earliest restorable point of the 7-day PITR window']],
    );
    assert.deepEqual(
      [...windowHolds(bases, state([], age), 7, NOW).keys()],
      ['d8'],
      'no WAL: nothing is restorable, the base before the window stays anyway',
    );
  });

  test('how a planned base holds WAL', () => {
    const planned = (action: 'keep' | 'delete', status: string, reasons: string[], pinned = false) => ({
      action,
      status: status as 'verified',
      pinned,
      reasons,
    });
    const window = 'covers the start of the 7-day PITR window';
    assert.equal(walHoldOf(planned('keep', 'verified', [window]), true), 'onward');
    assert.equal(walHoldOf(planned('keep', 'uploaded', ['in progress']), true), 'onward');
    // A monthly older than the window keeps only what restores it to its own end, not every segment after it.
    assert.equal(walHoldOf(planned('keep', 'verified', ['monthly 2026-09']), false), 'range');
    assert.equal(walHoldOf(planned('keep', 'verified', ['pinned'], true), false), 'range');
    assert.equal(
      walHoldOf(planned('keep', 'verified', ['pinned', 'daily 2026-12-01'], true), true),
      'onward',
    );
    assert.equal(walHoldOf(planned('keep', 'corrupt', ['grace period']), true), 'none');
    assert.equal(walHoldOf(planned('keep', 'corrupt', ['pinned', 'grace period'], true), false), 'range');
    assert.equal(walHoldOf(planned('delete', 'verified', ['expired']), true), 'none');
  });
});

describe('recoveryWindowOf', () => {
  const manifest = (status: string, startSegno: number) =>
    ({
      backupId: '20261201T020000Z-aaaaaa',
      status,
      deletion: null,
      target: { id: 't' },
      content: {
        physical: physicalOf({ targetId: 't', takenAt: daysAgo(2), status: 'verified', startSegno }),
      },
    }) as unknown as Parameters<typeof recoveryWindowOf>[0][number];
  const listing = (segnos: number[]) => ({
    files: [],
    unreadableHistories: [],
    state: {
      files: segnos.map((s) => ({
        timeline: 1,
        file: segmentFileName({ timeline: 1, segno: BigInt(s) }),
        kind: 'segment' as const,
        receivedAt: daysAgo(1),
      })),
      histories: new Map(),
    },
  });

  test('earliest and latest, or none with why', () => {
    const ok = recoveryWindowOf([manifest('verified', 3)], listing([3, 4]));
    assert.equal(ok.none, null);
    assert.equal(ok.earliest, new Date(daysAgo(2).getTime() + 60_000).toISOString());
    assert.equal(ok.latest, daysAgo(1).toISOString());
    assert.equal(recoveryWindowOf([manifest('uploaded', 3)], listing([3])).none, 'no verified base backup');
    assert.equal(recoveryWindowOf([manifest('verified', 3)], listing([])).none, 'no WAL archived');
    assert.match(
      recoveryWindowOf([manifest('verified', 3)], listing([5])).none ?? '',
      /^the archive lacks WAL up to the stop LSN of every verified base backup \(newest: 20261201T020000Z-aaaaaa, stop 0\/3000100\)$/,
    );
  });
});
