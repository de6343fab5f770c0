import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessTier, BackupStatus } from '@tidemark/manifest';
import type { Policy } from './config.schema';
import { EARLY_DELETION_DAYS, planRetention } from './retention';
import type { BackupSnapshot, RetentionDecision } from './retention.types';
import { validateConfig } from './validate-config';

const NONE = { keepLast: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };

/** A validated policy keeping nothing by default, so each test turns on only the rule it is about. */
function policy(
  remote: Record<string, number> = {},
  tiering: Record<string, unknown> = {},
  timezone = 'UTC',
): Policy {
  const config = validateConfig({
    policies: {
      p: { schedule: '0 2 * * *', timezone, retention: { remote: { ...NONE, ...remote } }, tiering },
    },
    targets: [{ id: 't', kind: 'postgres', url: 'postgres://x', policy: 'p' }],
  });
  const result = config.policies['p'];
  assert.ok(result);
  return result;
}

function backup(
  backupId: string,
  takenAt: string,
  status: BackupStatus = 'verified',
  extra: Partial<BackupSnapshot> = {},
): BackupSnapshot {
  const at = new Date(takenAt);
  return {
    backupId,
    takenAt: at,
    status,
    pinned: false,
    tier: 'Cool',
    tierSince: at,
    sizeBytes: 1,
    ...extra,
  };
}

/** `id: keep|delete reason; reason` for each decision, the shape most tests compare. */
function summary(decisions: RetentionDecision[]): string[] {
  return decisions.map((d) => `${d.backupId}: ${d.action} ${d.reasons.join('; ')}`);
}

function decisionOf(decisions: RetentionDecision[], id: string): RetentionDecision {
  const decision = decisions.find((d) => d.backupId === id);
  assert.ok(decision, id);
  return decision;
}

/** Every `hours` hours from `start` (UTC) for `count` backups, ids b000, b001, ... */
function series(start: string, hours: number, count: number): BackupSnapshot[] {
  return Array.from({ length: count }, (_, index) =>
    backup(
      `b${String(index).padStart(3, '0')}`,
      new Date(new Date(start).getTime() + index * hours * 3_600_000).toISOString(),
    ),
  );
}

const NOW = new Date('2027-06-01T00:00:00Z');

describe('planRetention basics', () => {
  test('one decision per backup, oldest first with ties by id, whatever the input order', () => {
    const backups = [
      backup('c', '2026-05-02T00:00:00Z'),
      backup('b', '2026-05-01T00:00:00Z'),
      backup('a', '2026-05-02T00:00:00Z'),
    ];
    const decisions = planRetention(backups, policy(), NOW);
    assert.deepEqual(
      decisions.map((d) => d.backupId),
      ['b', 'a', 'c'],
    );
    assert.deepEqual(planRetention([...backups].reverse(), policy(), NOW), decisions);
  });

  test('an empty history gives an empty plan', () => {
    assert.deepEqual(planRetention([], policy(), NOW), []);
  });

  test('a duplicate backup id is refused', () => {
    assert.throws(
      () =>
        planRetention(
          [backup('a', '2026-05-01T00:00:00Z'), backup('a', '2026-05-02T00:00:00Z')],
          policy(),
          NOW,
        ),
      { message: 'duplicate backupId "a"' },
    );
  });

  test('old verified backups no rule keeps are expired', () => {
    assert.deepEqual(
      summary(
        planRetention(
          [backup('a', '2026-05-01T00:00:00Z'), backup('b', '2026-05-02T00:00:00Z')],
          policy(),
          NOW,
        ),
      ),
      ['a: delete expired', 'b: keep newest verified'],
    );
  });
});

describe('keep rules', () => {
  test('keepLast keeps the N newest verified backups, skipping other statuses', () => {
    const backups = [
      backup('a', '2026-05-01T00:00:00Z'),
      backup('b', '2026-05-02T00:00:00Z'),
      backup('c', '2026-05-03T00:00:00Z'),
      backup('x', '2026-05-04T00:00:00Z', 'failed'),
      backup('d', '2026-05-05T00:00:00Z'),
    ];
    assert.deepEqual(summary(planRetention(backups, policy({ keepLast: 3, failedGraceDays: 0 }), NOW)), [
      'a: delete expired',
      'b: keep keepLast',
      'c: keep keepLast',
      'x: delete failed, grace period over',
      'd: keep newest verified; keepLast',
    ]);
  });

  test('daily keeps the newest of each of the N latest days that have a verified backup', () => {
    const backups = [
      backup('mon-1', '2026-11-02T01:00:00Z'),
      backup('mon-2', '2026-11-02T13:00:00Z'),
      backup('tue-1', '2026-11-03T01:00:00Z'),
      backup('tue-2', '2026-11-03T13:00:00Z'),
      // Thursday's only backup failed, so Thursday is not a day with a verified backup.
      backup('thu', '2026-11-05T01:00:00Z', 'corrupt'),
      backup('fri-1', '2026-11-06T01:00:00Z'),
      backup('fri-2', '2026-11-06T13:00:00Z'),
    ];
    assert.deepEqual(summary(planRetention(backups, policy({ daily: 2, failedGraceDays: 0 }), NOW)), [
      'mon-1: delete expired',
      'mon-2: delete expired',
      'tue-1: delete expired',
      'tue-2: keep daily 2026-11-03',
      'thu: delete corrupt, grace period over',
      'fri-1: delete expired',
      'fri-2: keep newest verified; daily 2026-11-06',
    ]);
  });

  test('weekly uses ISO weeks and their week-year: 2027-01-01 is in 2026-W53', () => {
    const backups = [
      backup('sun-w52', '2026-12-27T12:00:00Z'),
      backup('mon-w53', '2026-12-28T12:00:00Z'),
      backup('thu-w53', '2026-12-31T12:00:00Z'),
      backup('fri-w53', '2027-01-01T12:00:00Z'),
      backup('mon-w01', '2027-01-04T12:00:00Z'),
    ];
    assert.deepEqual(summary(planRetention(backups, policy({ weekly: 3, yearly: 2 }), NOW)), [
      'sun-w52: keep weekly 2026-W52',
      'mon-w53: delete expired',
      'thu-w53: keep yearly 2026',
      'fri-w53: keep weekly 2026-W53',
      'mon-w01: keep newest verified; weekly 2027-W01; yearly 2027',
    ]);
  });

  test('monthly and yearly count only periods that have a verified backup', () => {
    const backups = [
      backup('2024-jun', '2024-06-15T00:00:00Z'),
      backup('2025-jan', '2025-01-10T00:00:00Z'),
      backup('2025-jan-late', '2025-01-20T00:00:00Z'),
      backup('2025-mar', '2025-03-10T00:00:00Z'),
      backup('2026-feb', '2026-02-10T00:00:00Z', 'failed'),
      backup('2026-apr', '2026-04-10T00:00:00Z'),
    ];
    assert.deepEqual(
      summary(planRetention(backups, policy({ monthly: 3, yearly: 5, failedGraceDays: 0 }), NOW)),
      [
        '2024-jun: keep yearly 2024',
        '2025-jan: delete expired',
        '2025-jan-late: keep monthly 2025-01',
        '2025-mar: keep monthly 2025-03; yearly 2025',
        '2026-feb: delete failed, grace period over',
        '2026-apr: keep newest verified; monthly 2026-04; yearly 2026',
      ],
    );
  });

  test('one backup can hold every reason', () => {
    const decisions = planRetention(
      [backup('a', '2026-11-03T02:00:00Z', 'verified', { pinned: true })],
      policy({ keepLast: 1, daily: 1, weekly: 1, monthly: 1, yearly: 1 }),
      NOW,
    );
    assert.deepEqual(decisionOf(decisions, 'a').reasons, [
      'pinned',
      'newest verified',
      'keepLast',
      'daily 2026-11-03',
      'weekly 2026-W45',
      'monthly 2026-11',
      'yearly 2026',
    ]);
  });
});

describe('time zones', () => {
  test('a DST week in Europe/Berlin: the 23 h and 25 h days are each one day', () => {
    const backups = [
      backup('mar29-0030', '2026-03-28T23:30:00Z'), // 00:30 CET, Sunday 29 March
      backup('mar29-2330', '2026-03-29T21:30:00Z'), // 23:30 CEST, same day (23 h long)
      backup('mar30-0030', '2026-03-29T22:30:00Z'), // 00:30 CEST Monday, though still Sunday in UTC
      backup('oct25-0030', '2026-10-24T22:30:00Z'), // 00:30 CEST, Sunday 25 October
      backup('oct25-2330', '2026-10-25T22:30:00Z'), // 23:30 CET, same day (25 h long)
      backup('oct26-0030', '2026-10-25T23:30:00Z'), // 00:30 CET Monday
    ];
    const berlin = policy({ daily: 10, weekly: 10 }, {}, 'Europe/Berlin');
    assert.deepEqual(summary(planRetention(backups, berlin, NOW)), [
      'mar29-0030: delete expired',
      'mar29-2330: keep daily 2026-03-29; weekly 2026-W13',
      'mar30-0030: keep daily 2026-03-30; weekly 2026-W14',
      'oct25-0030: delete expired',
      'oct25-2330: keep daily 2026-10-25; weekly 2026-W43',
      'oct26-0030: keep newest verified; daily 2026-10-26; weekly 2026-W44',
    ]);
    // In UTC the same instants fall on other days.
    assert.deepEqual(summary(planRetention(backups, policy({ daily: 10 }), NOW)), [
      'mar29-0030: keep daily 2026-03-28',
      'mar29-2330: delete expired',
      'mar30-0030: keep daily 2026-03-29',
      'oct25-0030: keep daily 2026-10-24',
      'oct25-2330: delete expired',
      'oct26-0030: keep newest verified; daily 2026-10-25',
    ]);
  });

  test('the time zone moves a backup to another local day, month and year', () => {
    const late = [backup('a', '2026-12-31T23:30:00Z')];
    const reasons = (timezone: string): string[] =>
      decisionOf(planRetention(late, policy({ daily: 1, monthly: 1, yearly: 1 }, {}, timezone), NOW), 'a')
        .reasons;
    assert.deepEqual(reasons('UTC'), [
      'newest verified',
      'daily 2026-12-31',
      'monthly 2026-12',
      'yearly 2026',
    ]);
    assert.deepEqual(reasons('Europe/Berlin'), [
      'newest verified',
      'daily 2027-01-01',
      'monthly 2027-01',
      'yearly 2027',
    ]);
    assert.deepEqual(reasons('Asia/Kolkata'), [
      'newest verified',
      'daily 2027-01-01',
      'monthly 2027-01',
      'yearly 2027',
    ]);
    const early = [backup('b', '2026-11-04T03:00:00Z')];
    assert.deepEqual(
      decisionOf(planRetention(early, policy({ daily: 1 }, {}, 'America/New_York'), NOW), 'b').reasons,
      ['newest verified', 'daily 2026-11-03'],
    );
  });
});

describe('protections', () => {
  test('pinned backups are kept whatever their status or age', () => {
    const backups = [
      backup('old', '2024-01-01T00:00:00Z', 'verified', { pinned: true }),
      backup('failed', '2024-02-01T00:00:00Z', 'failed', { pinned: true }),
      backup('corrupt', '2024-03-01T00:00:00Z', 'corrupt', { pinned: true, tier: null }),
      backup('dumping', '2024-04-01T00:00:00Z', 'dumping', { pinned: true, tier: null }),
      backup('new', '2027-05-31T00:00:00Z'),
    ];
    assert.deepEqual(summary(planRetention(backups, policy(), NOW)), [
      'old: keep pinned',
      'failed: keep pinned',
      'corrupt: keep pinned',
      'dumping: keep pinned; in progress',
      'new: keep newest verified',
    ]);
  });

  test('the newest verified backup survives even when every count is 0, newer unverified ones aside', () => {
    const backups = [
      backup('old', '2020-01-01T00:00:00Z'),
      backup('newest-verified', '2021-01-01T00:00:00Z'),
      backup('uploaded', '2027-05-31T00:00:00Z', 'uploaded'),
      backup('corrupt', '2027-05-31T01:00:00Z', 'corrupt'),
    ];
    assert.deepEqual(summary(planRetention(backups, policy(), NOW)), [
      'old: delete expired',
      'newest-verified: keep newest verified',
      'uploaded: keep in progress',
      'corrupt: keep grace period',
    ]);
  });

  test('minKeep tops up with the newest verified backups not kept otherwise, pinned ones counting', () => {
    const backups = series('2026-01-01T00:00:00Z', 24, 5);
    assert.deepEqual(summary(planRetention(backups, policy({ minKeep: 3 }), NOW)), [
      'b000: delete expired',
      'b001: delete expired',
      'b002: keep minKeep',
      'b003: keep minKeep',
      'b004: keep newest verified',
    ]);
    const pinned = backups.map((b) => (b.backupId === 'b000' ? { ...b, pinned: true } : b));
    assert.deepEqual(summary(planRetention(pinned, policy({ minKeep: 3 }), NOW)), [
      'b000: keep pinned',
      'b001: delete expired',
      'b002: delete expired',
      'b003: keep minKeep',
      'b004: keep newest verified',
    ]);
    assert.equal(
      planRetention(backups, policy({ minKeep: 9 }), NOW).filter((d) => d.action === 'keep').length,
      5,
    );
  });

  test('backups in progress are kept however old', () => {
    const backups = (['dumping', 'dumped', 'uploaded'] as const).map((status, index) =>
      backup(status, `2020-01-0${index + 1}T00:00:00Z`, status, {
        tier: status === 'uploaded' ? 'Cool' : null,
      }),
    );
    assert.deepEqual(summary(planRetention(backups, policy(), NOW)), [
      'dumping: keep in progress',
      'dumped: keep in progress',
      'uploaded: keep in progress',
    ]);
  });

  test('failed and corrupt backups stay through the grace period, then go', () => {
    const now = new Date('2026-06-10T00:00:00Z');
    const backups = [
      backup('failed-old', '2026-06-02T23:59:59Z', 'failed'),
      backup('corrupt-old', '2026-06-01T00:00:00Z', 'corrupt'),
      backup('failed-edge', '2026-06-03T00:00:00Z', 'failed'), // exactly 7 days: not older than the grace
      backup('corrupt-new', '2026-06-09T00:00:00Z', 'corrupt'),
    ];
    assert.deepEqual(summary(planRetention(backups, policy(), now)), [
      'corrupt-old: delete corrupt, grace period over',
      'failed-old: delete failed, grace period over',
      'failed-edge: keep grace period',
      'corrupt-new: keep grace period',
    ]);
    assert.deepEqual(summary(planRetention(backups, policy({ failedGraceDays: 0 }), now)), [
      'corrupt-old: delete corrupt, grace period over',
      'failed-old: delete failed, grace period over',
      'failed-edge: delete failed, grace period over',
      'corrupt-new: delete corrupt, grace period over',
    ]);
  });
});

describe('tiering', () => {
  const tiers = { initial: 'Hot', coolAfterDays: 30, coldAfterDays: 90, archiveAfterDays: 180 };
  const aged = (
    days: number,
    tier: AccessTier | null = 'Hot',
    extra: Partial<BackupSnapshot> = {},
  ): BackupSnapshot =>
    backup(`age-${days}`, new Date(NOW.getTime() - days * 86_400_000).toISOString(), 'verified', {
      pinned: true,
      tier,
      ...extra,
    });

  test('EARLY_DELETION_DAYS holds the Azure minimums', () => {
    assert.deepEqual(EARLY_DELETION_DAYS, { Hot: 0, Cool: 30, Cold: 90, Archive: 180 });
  });

  test('moves a kept backup to the coldest tier its age has reached', () => {
    const decisions = planRetention([aged(40), aged(200), aged(10)], policy({}, tiers), NOW);
    assert.deepEqual(decisionOf(decisions, 'age-40').tier, {
      from: 'Hot',
      to: 'Cool',
      reason: 'age 40 d ≥ coolAfterDays 30',
    });
    assert.deepEqual(decisionOf(decisions, 'age-200').tier, {
      from: 'Hot',
      to: 'Archive',
      reason: 'age 200 d ≥ archiveAfterDays 180',
    });
    assert.equal(decisionOf(decisions, 'age-10').tier, null);
    assert.equal(decisionOf(decisions, 'age-10').tierNote, undefined);
  });

  test('never moves to a warmer tier or to the tier it is in, and leaves backups without an artifact alone', () => {
    const decisions = planRetention(
      [aged(40, 'Archive'), aged(95, 'Cold'), aged(300, null)],
      policy({}, tiers),
      NOW,
    );
    for (const decision of decisions) {
      assert.equal(decision.tier, null, decision.backupId);
      assert.equal(decision.tierNote, undefined, decision.backupId);
    }
  });

  test('does not move a backup that would move on before the new tier minimum', () => {
    // Cold needs 90 d, but Archive is due at 180 d, in 80 d.
    const decision = decisionOf(planRetention([aged(100)], policy({}, tiers), NOW), 'age-100');
    assert.equal(decision.tier, null);
    assert.equal(decision.tierNote, "stays Hot: due for Archive in ~80 d, before Cold's 90 d minimum");
    const later = decisionOf(planRetention([aged(150)], policy({}, tiers), NOW), 'age-150');
    assert.equal(later.tierNote, "stays Hot: due for Archive in ~30 d, before Cold's 90 d minimum");
    // Cool needs 30 d and Cold is due in exactly 30 d: allowed.
    const cool = decisionOf(planRetention([aged(60)], policy({}, tiers), NOW), 'age-60');
    assert.deepEqual(cool.tier, { from: 'Hot', to: 'Cool', reason: 'age 60 d ≥ coolAfterDays 30' });
  });

  test('does not move a backup that expires before the new tier minimum', () => {
    const now = new Date('2026-03-12T02:00:00Z');
    const backups = [
      backup('jan', '2026-01-01T02:00:00Z'),
      backup('mar', '2026-03-10T02:00:00Z', 'verified', { tier: 'Cool' }),
    ];
    const archive = { initial: 'Cool', archiveAfterDays: 60 };
    const monthly = decisionOf(planRetention(backups, policy({ monthly: 3 }, archive), now), 'jan');
    assert.deepEqual(monthly.reasons, ['monthly 2026-01']);
    assert.equal(monthly.tier, null);
    // Kept until about 2026-04-01 by monthly: 3.
    assert.equal(monthly.tierNote, "stays Cool: expires in ~20 d, before Archive's 180 d minimum");

    // The latest expiry among its reasons counts: yearly: 2 holds December far longer than monthly: 3.
    const withDecember = [backup('dec', '2025-12-31T02:00:00Z'), ...backups];
    const both = planRetention(withDecember, policy({ monthly: 3, yearly: 2 }, archive), now);
    assert.deepEqual(decisionOf(both, 'dec').reasons, ['monthly 2025-12', 'yearly 2025']);
    assert.deepEqual(decisionOf(both, 'dec').tier, {
      from: 'Cool',
      to: 'Archive',
      reason: 'age 71 d ≥ archiveAfterDays 60',
    });
    assert.equal(
      decisionOf(both, 'jan').tierNote,
      "stays Cool: expires in ~20 d, before Archive's 180 d minimum",
    );

    // weekly: 20 holds it 140 d from when it was taken.
    const weekly = decisionOf(planRetention(backups, policy({ weekly: 20 }, archive), now), 'jan');
    assert.deepEqual(weekly.reasons, ['weekly 2026-W01']);
    assert.equal(weekly.tierNote, "stays Cool: expires in ~70 d, before Archive's 180 d minimum");
  });

  test('a failed backup in its grace period and a backup in progress stay where they are', () => {
    const now = new Date('2026-03-12T02:00:00Z');
    const decisions = planRetention(
      [
        backup('failed', '2026-03-07T02:00:00Z', 'failed', { tier: 'Hot' }),
        backup('uploaded', '2026-01-01T02:00:00Z', 'uploaded'),
      ],
      policy({ failedGraceDays: 7 }, { initial: 'Hot', coolAfterDays: 1, coldAfterDays: 2 }),
      now,
    );
    assert.deepEqual(decisionOf(decisions, 'failed').tier, null);
    assert.equal(
      decisionOf(decisions, 'failed').tierNote,
      "stays Hot: expires in ~2 d, before Cold's 90 d minimum",
    );
    assert.equal(decisionOf(decisions, 'uploaded').tier, null);
    assert.equal(decisionOf(decisions, 'uploaded').tierNote, 'stays Cool: not verified yet');
  });

  test('a deleted backup gets no tier change', () => {
    const decisions = planRetention(
      [
        backup('old', '2025-01-01T00:00:00Z', 'verified', { tier: 'Hot' }),
        backup('new', '2027-05-31T00:00:00Z'),
      ],
      policy({}, tiers),
      NOW,
    );
    assert.deepEqual(decisionOf(decisions, 'old'), {
      backupId: 'old',
      action: 'delete',
      reasons: ['expired'],
      tier: null,
    });
  });
});

describe('idempotence', () => {
  test('planning again on the survivors at the same time deletes and moves nothing more', () => {
    const backups = [
      ...series('2024-01-01T02:00:00Z', 24 * 9, 130).map((b) => ({ ...b, tier: 'Hot' as const })),
      backup('failed', '2027-05-29T00:00:00Z', 'failed'),
      backup('dumping', '2027-05-31T23:00:00Z', 'dumping', { tier: null }),
    ];
    const rules = policy(
      { keepLast: 3, daily: 5, weekly: 4, monthly: 6, yearly: 2, minKeep: 2 },
      { initial: 'Hot', coolAfterDays: 20, coldAfterDays: 100, archiveAfterDays: 400 },
      'Europe/Berlin',
    );
    const first = planRetention(backups, rules, NOW);
    assert.ok(first.some((d) => d.action === 'delete'));
    assert.ok(first.some((d) => d.tier !== null));
    const survivors = backups.flatMap((b) => {
      const decision = decisionOf(first, b.backupId);
      if (decision.action === 'delete') return [];
      return [decision.tier ? { ...b, tier: decision.tier.to, tierSince: NOW } : b];
    });
    const second = planRetention(survivors, rules, NOW);
    assert.deepEqual(
      second.filter((d) => d.action === 'delete' || d.tier !== null),
      [],
    );
    assert.deepEqual(
      second.map((d) => d.reasons),
      first.filter((d) => d.action === 'keep').map((d) => d.reasons),
    );
  });
});

describe('chains and groups', () => {
  const now = new Date('2026-11-20T12:00:00Z');

  test('a kept incremental keeps every member it depends on, however old', () => {
    const decisions = planRetention(
      [
        backup('full', '2026-11-01T02:00:00Z'),
        backup('inc1', '2026-11-02T02:00:00Z', 'verified', { dependsOn: ['full'] }),
        backup('inc2', '2026-11-03T02:00:00Z', 'verified', { dependsOn: ['inc1', 'full'] }),
        backup('other', '2026-10-01T02:00:00Z'),
      ],
      policy({ keepLast: 1 }),
      now,
    );
    assert.deepEqual(summary(decisions), [
      'other: delete expired',
      'full: keep chain of inc2',
      'inc1: keep chain of inc2',
      'inc2: keep newest verified; keepLast',
    ]);
  });

  test('an incremental still in progress holds its chain too', () => {
    const decisions = planRetention(
      [
        backup('full', '2026-11-01T02:00:00Z', 'corrupt'),
        backup('inc1', '2026-11-19T02:00:00Z', 'uploaded', { dependsOn: ['full'] }),
      ],
      policy({ failedGraceDays: 1 }),
      now,
    );
    assert.equal(decisionOf(decisions, 'full').action, 'keep');
    assert.deepEqual(decisionOf(decisions, 'full').reasons, ['chain of inc1']);
  });

  test('when no kept backup needs a chain, the whole chain goes', () => {
    const decisions = planRetention(
      [
        backup('full', '2026-10-01T02:00:00Z'),
        backup('inc1', '2026-10-02T02:00:00Z', 'verified', { dependsOn: ['full'] }),
        backup('new', '2026-11-19T02:00:00Z'),
      ],
      policy({ keepLast: 1 }),
      now,
    );
    assert.deepEqual(
      decisions.map((d) => `${d.backupId}:${d.action}`),
      ['full:delete', 'inc1:delete', 'new:keep'],
    );
  });

  test('each group keeps its own newest verified and slots', () => {
    const decisions = planRetention(
      [
        backup('a-old', '2026-11-01T02:00:00Z', 'verified', { group: 'database a' }),
        backup('b-old', '2026-11-01T02:00:00Z', 'verified', { group: 'database b' }),
        backup('a-new', '2026-11-02T02:00:00Z', 'verified', { group: 'database a' }),
      ],
      policy({ keepLast: 1 }),
      now,
    );
    assert.deepEqual(summary(decisions), [
      'a-old: delete expired',
      'b-old: keep newest verified; keepLast',
      'a-new: keep newest verified; keepLast',
    ]);
  });
});
