import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ACCESS_TIERS, BACKUP_STATUSES, type AccessTier, type BackupStatus } from '@tidemark/manifest';
import type { Policy, RetentionPolicy } from './config.schema';
import { EARLY_DELETION_DAYS, planRetention } from './retention';
import type { BackupSnapshot, RetentionDecision } from './retention.types';
import { validateConfig } from './validate-config';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const TIME_ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'UTC', 'Asia/Kolkata'] as const;
const GFS_CLASSES = ['daily', 'weekly', 'monthly', 'yearly'] as const;
type GfsClass = (typeof GFS_CLASSES)[number];
const GFS_REASON = /^(keepLast|(daily|weekly|monthly|yearly) .+)$/;

// ---- Reference GFS selection: written separately from retention.ts, with other date arithmetic. ----

const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** Local `YYYY-MM-DD` via the Swedish locale, which writes dates in ISO order. */
function localDay(at: Date, timeZone: string): [number, number, number] {
  let format = dayFormats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('sv-SE', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    dayFormats.set(timeZone, format);
  }
  const [year, month, day] = format.format(at).split('-').map(Number);
  return [year ?? 0, month ?? 0, day ?? 0];
}

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** Sakamoto's weekday, 1 = Monday ... 7 = Sunday. */
function isoWeekday(y: number, m: number, d: number): number {
  const t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
  const year = m < 3 ? y - 1 : y;
  const sunday0 =
    (year + Math.floor(year / 4) - Math.floor(year / 100) + Math.floor(year / 400) + (t[m - 1] ?? 0) + d) % 7;
  return sunday0 === 0 ? 7 : sunday0;
}

function dayOfYear(y: number, m: number, d: number): number {
  const lengths = [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return lengths.slice(0, m - 1).reduce((sum, n) => sum + n, 0) + d;
}

/** A year has 53 ISO weeks when it starts on a Thursday, or on a Wednesday in a leap year. */
function weeksIn(y: number): number {
  const jan1 = isoWeekday(y, 1, 1);
  return jan1 === 4 || (jan1 === 3 && isLeap(y)) ? 53 : 52;
}

/** The ISO week by the ordinal-date formula (Wikipedia "ISO week date"). */
function referenceIsoWeek(y: number, m: number, d: number): string {
  const week = Math.floor((dayOfYear(y, m, d) - isoWeekday(y, m, d) + 10) / 7);
  if (week < 1) return `${y - 1}-W${weeksIn(y - 1)}`;
  if (week > weeksIn(y)) return `${y + 1}-W01`;
  return `${y}-W${String(week).padStart(2, '0')}`;
}

function referenceKey(periodClass: GfsClass, at: Date, timeZone: string): string {
  const [y, m, d] = localDay(at, timeZone);
  const mm = String(m).padStart(2, '0');
  switch (periodClass) {
    case 'daily':
      return `${y}-${mm}-${String(d).padStart(2, '0')}`;
    case 'weekly':
      return referenceIsoWeek(y, m, d);
    case 'monthly':
      return `${y}-${mm}`;
    case 'yearly':
      return String(y);
  }
}

/** "Later" means later takenAt, then the greater id, matching the plan's sort order. */
const later = (a: BackupSnapshot, b: BackupSnapshot): boolean =>
  a.takenAt.getTime() !== b.takenAt.getTime() ? a.takenAt > b.takenAt : a.backupId > b.backupId;

/** backupId -> GFS reasons, as keepLast plus, per class, the latest backup of each of the N latest periods. */
function referenceGfs(
  backups: readonly BackupSnapshot[],
  remote: RetentionPolicy['remote'],
  timeZone: string,
): Map<string, string[]> {
  const verified = backups.filter((b) => b.status === 'verified');
  const result = new Map<string, string[]>();
  const add = (id: string, reason: string): void => {
    result.set(id, [...(result.get(id) ?? []), reason]);
  };
  const newestFirst = [...verified].sort((a, b) => (later(a, b) ? -1 : 1));
  for (const b of newestFirst.slice(0, remote.keepLast)) add(b.backupId, 'keepLast');
  for (const periodClass of GFS_CLASSES) {
    const latestOf = new Map<string, BackupSnapshot>();
    for (const b of verified) {
      const key = referenceKey(periodClass, b.takenAt, timeZone);
      const current = latestOf.get(key);
      if (current === undefined || later(b, current)) latestOf.set(key, b);
    }
    // Periods ranked by their latest backup, not by key: the two agree only if the plan's keys are right.
    const ranked = [...latestOf].sort(([, a], [, b]) => (later(a, b) ? -1 : 1));
    for (const [key, b] of ranked.slice(0, remote[periodClass])) add(b.backupId, `${periodClass} ${key}`);
  }
  return result;
}

// ---- Random histories ----

interface Scenario {
  backups: BackupSnapshot[];
  policy: Policy;
  now: Date;
}

const statusArb: fc.Arbitrary<BackupStatus> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<BackupStatus>('verified') },
  { weight: 1, arbitrary: fc.constantFrom<BackupStatus>(...BACKUP_STATUSES.filter((s) => s !== 'verified')) },
);

// Small steps too, so moves fall due inside the failed-backup grace period.
const stepArb = fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 200 }));

const tieringArb = fc
  .record({
    initial: fc.constantFrom('Hot', 'Cool', 'Cold'),
    steps: fc.tuple(stepArb, stepArb, stepArb),
    use: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
  })
  .map(({ initial, steps, use }) => {
    const tiering: Record<string, unknown> = { initial };
    const keys = ['coolAfterDays', 'coldAfterDays', 'archiveAfterDays'] as const;
    let after = 0;
    keys.forEach((key, index) => {
      after += steps[index] ?? 1;
      // Only tiers colder than the initial one may be configured.
      if ((use[index] ?? false) && index + 1 > ACCESS_TIERS.indexOf(initial)) tiering[key] = after;
    });
    return tiering;
  });

const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    timezone: fc.constantFrom(...TIME_ZONES),
    keepLast: fc.integer({ min: 0, max: 10 }),
    daily: fc.integer({ min: 0, max: 10 }),
    weekly: fc.integer({ min: 0, max: 10 }),
    monthly: fc.integer({ min: 0, max: 10 }),
    yearly: fc.integer({ min: 0, max: 10 }),
    minKeep: fc.integer({ min: 1, max: 5 }),
    failedGraceDays: fc.integer({ min: 0, max: 10 }),
    tiering: tieringArb,
  })
  .map(({ timezone, tiering, ...remote }) => {
    const config = validateConfig({
      policies: { p: { schedule: '0 2 * * *', timezone, retention: { remote }, tiering } },
      targets: [{ id: 't', kind: 'postgres', url: 'postgres://x', policy: 'p' }],
    });
    const policy = config.policies['p'];
    if (policy === undefined) throw new Error('policy missing');
    return policy;
  });

// Spans from a few days (many backups per day and week, equal times) to three years (gaps, year ends).
const SPANS_MINUTES = [3 * 1440, 20 * 1440, 120 * 1440, 3 * 365 * 1440];

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    policy: policyArb,
    start: fc.integer({ min: 0, max: 365 * 1440 }),
    span: fc.constantFrom(...SPANS_MINUTES),
    nowAfterDays: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 400 })),
    entries: fc.array(
      fc.record({
        at: fc.double({ min: 0, max: 1, noNaN: true }),
        status: statusArb,
        pinned: fc.integer({ min: 0, max: 14 }).map((n) => n === 0),
        tier: fc.constantFrom<AccessTier | null>(null, ...ACCESS_TIERS),
      }),
      { maxLength: 60 },
    ),
  })
  .map(({ policy, start, span, nowAfterDays, entries }) => {
    const origin = Date.UTC(2024, 0, 1) + start * MINUTE_MS;
    const backups = entries.map((entry, index): BackupSnapshot => {
      const takenAt = new Date(origin + Math.floor(entry.at * span) * MINUTE_MS);
      return {
        backupId: `b${String(index).padStart(3, '0')}`,
        takenAt,
        status: entry.status,
        pinned: entry.pinned,
        tier: entry.tier,
        tierSince: entry.tier === null ? null : takenAt,
        sizeBytes: 1,
      };
    });
    return { backups, policy, now: new Date(origin + span * MINUTE_MS + nowAfterDays * DAY_MS) };
  });

// ---- Invariants ----

const gfsReasons = (decision: RetentionDecision): string[] =>
  decision.reasons.filter((r) => GFS_REASON.test(r));

function checkPlan({ backups, policy, now }: Scenario): void {
  const remote = policy.retention.remote;
  const decisions = planRetention(backups, policy, now);
  const byId = new Map(decisions.map((d) => [d.backupId, d]));
  const expectedOrder = [...backups].sort((a, b) => (later(a, b) ? 1 : -1)).map((b) => b.backupId);
  assert.deepEqual(
    decisions.map((d) => d.backupId),
    expectedOrder,
    'one decision per backup, oldest first',
  );
  assert.deepEqual(
    planRetention([...backups].reverse(), policy, now),
    decisions,
    'input order does not matter',
  );

  const verified = backups.filter((b) => b.status === 'verified');
  const newestVerified = [...verified].sort((a, b) => (later(a, b) ? -1 : 1))[0];
  const reference = referenceGfs(backups, remote, policy.timezone);
  let verifiedKept = 0;
  for (const backup of backups) {
    const decision = byId.get(backup.backupId);
    assert.ok(decision);
    assert.ok(decision.reasons.length >= 1, `${backup.backupId} has a reason`);
    const kept = decision.action === 'keep';
    if (backup.pinned) assert.ok(kept && decision.reasons.includes('pinned'), 'pinned is kept');
    if (backup === newestVerified) assert.ok(kept && decision.reasons.includes('newest verified'));
    if (backup.status === 'verified') {
      if (kept) verifiedKept++;
      assert.deepEqual(
        gfsReasons(decision),
        reference.get(backup.backupId) ?? [],
        `GFS of ${backup.backupId}`,
      );
    } else if (backup.status === 'failed' || backup.status === 'corrupt') {
      const inGrace = now.getTime() - backup.takenAt.getTime() <= remote.failedGraceDays * DAY_MS;
      assert.equal(kept, inGrace || backup.pinned, `grace of ${backup.backupId}`);
    } else {
      assert.ok(kept && decision.reasons.includes('in progress'));
    }
    if (kept) {
      if (decision.tier !== null) {
        assert.equal(decision.tier.from, backup.tier);
        assert.ok(
          ACCESS_TIERS.indexOf(decision.tier.to) > ACCESS_TIERS.indexOf(decision.tier.from),
          'only colder',
        );
        assert.equal(decision.tierNote, undefined);
        checkTierMove(backup, decision, policy, now);
      }
    } else {
      assert.equal(decision.tier, null, 'no tier change for a deleted backup');
      assert.equal(decision.reasons.length, 1);
    }
  }
  assert.ok(verifiedKept >= Math.min(remote.minKeep, verified.length), 'minKeep');

  const survivors = backups.flatMap((backup): BackupSnapshot[] => {
    const decision = byId.get(backup.backupId);
    if (decision?.action !== 'keep') return [];
    return [decision.tier === null ? backup : { ...backup, tier: decision.tier.to, tierSince: now }];
  });
  const again = planRetention(survivors, policy, now);
  for (const decision of again) {
    assert.equal(decision.action, 'keep', `idempotent: ${decision.backupId} not deleted on the second run`);
    assert.equal(decision.tier, null, `idempotent: ${decision.backupId} not moved on the second run`);
    assert.deepEqual(
      decision.reasons,
      byId.get(decision.backupId)?.reasons,
      'same reasons on the second run',
    );
  }
}

const TIER_STEPS = [
  ['coolAfterDays', 'Cool'],
  ['coldAfterDays', 'Cold'],
  ['archiveAfterDays', 'Archive'],
] as const;

/** A move goes to the coldest tier the age has reached, and stays there at least that tier's minimum. */
function checkTierMove(backup: BackupSnapshot, decision: RetentionDecision, policy: Policy, now: Date): void {
  const to = decision.tier?.to;
  const ageMs = now.getTime() - backup.takenAt.getTime();
  for (const [key, tier] of TIER_STEPS) {
    const days = policy.tiering[key];
    if (days === undefined) continue;
    if (tier === to) assert.ok(ageMs >= days * DAY_MS, `${key} reached`);
    if (to !== undefined && ACCESS_TIERS.indexOf(tier) > ACCESS_TIERS.indexOf(to)) {
      assert.ok(ageMs < days * DAY_MS, `${tier} not due yet`);
      assert.ok(
        days * DAY_MS - ageMs >= EARLY_DELETION_DAYS[to] * DAY_MS,
        `${to} minimum served before ${tier}`,
      );
    }
  }
  if (to === undefined) return;
  // A move must not outlast the backup: bound each reason's hold from above (months ≤ 31 d, years ≤ 366 d).
  const remote = policy.retention.remote;
  const holdDays = (reason: string): number => {
    const periodClass = reason.split(' ')[0];
    if (periodClass === 'keepLast') return remote.keepLast;
    if (periodClass === 'daily') return remote.daily;
    if (periodClass === 'weekly') return remote.weekly * 7;
    if (periodClass === 'monthly') return remote.monthly * 31;
    if (periodClass === 'yearly') return remote.yearly * 366;
    if (reason === 'grace period') return remote.failedGraceDays;
    return Infinity;
  };
  const heldUntil = Math.max(...decision.reasons.map(holdDays)) * DAY_MS - ageMs;
  assert.ok(heldUntil >= EARLY_DELETION_DAYS[to] * DAY_MS, `kept at least ${to}'s minimum`);
}

describe('planRetention properties', () => {
  test('the reference ISO week agrees on known dates', () => {
    assert.equal(referenceIsoWeek(2027, 1, 1), '2026-W53');
    assert.equal(referenceIsoWeek(2026, 12, 31), '2026-W53');
    assert.equal(referenceIsoWeek(2027, 1, 4), '2027-W01');
    assert.equal(referenceIsoWeek(2024, 12, 30), '2025-W01');
    assert.equal(referenceIsoWeek(2021, 1, 3), '2020-W53');
    assert.equal(referenceIsoWeek(2026, 11, 3), '2026-W45');
  });

  test('random histories keep the invariants and match the reference GFS selection', () => {
    fc.assert(fc.property(scenarioArb, checkPlan), { numRuns: 10_000 });
  });
});
