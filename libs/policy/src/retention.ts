import { ACCESS_TIERS, type AccessTier, type BackupStatus } from '@tidemark/manifest';
import type { Policy, TieringPolicy } from './config.schema';
import type { BackupSnapshot, RetentionDecision, TierChange } from './retention.types';

const DAY_MS = 86_400_000;

/** Azure's minimum days in a tier: leaving it (delete or tier change) earlier is charged as if it had stayed. */
export const EARLY_DELETION_DAYS: Readonly<Record<AccessTier, number>> = {
  Hot: 0,
  Cool: 30,
  Cold: 90,
  Archive: 180,
};

const IN_PROGRESS: ReadonlySet<BackupStatus> = new Set<BackupStatus>(['dumping', 'dumped', 'uploaded']);

const PERIOD_CLASSES = ['daily', 'weekly', 'monthly', 'yearly'] as const;
type PeriodClass = (typeof PERIOD_CLASSES)[number];

const TIER_STEPS = [
  ['coolAfterDays', 'Cool'],
  ['coldAfterDays', 'Cold'],
  ['archiveAfterDays', 'Archive'],
] as const;

interface TierStep {
  key: (typeof TIER_STEPS)[number][0];
  tier: AccessTier;
  days: number;
}

/** A keep reason and the estimated time (ms) it stops holding the backup; Infinity when it never does. */
interface KeepReason {
  text: string;
  until: number;
  /**
   * Until when it surely keeps the backup, which immutable storage may lock it for: NaN for a GFS slot of a
   * period still running (a later backup of the same day, week, month or year takes the slot over).
   */
  lockUntil: number;
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/**
 * Decides, for every backup of one target, whether it stays in Blob Storage and whether it moves to a colder
 * tier. Pure and deterministic: one decision per backup, sorted by takenAt then backupId. Each `group` is
 * planned on its own; a chain is kept as a unit (a kept backup keeps every member it depends on).
 */
export function planRetention(
  backups: readonly BackupSnapshot[],
  policy: Policy,
  now: Date,
): RetentionDecision[] {
  return planWithHorizons(backups, policy, now).map(({ decision }) => decision);
}

/** A decision and, for a kept backup, until when its reasons hold (ms; Infinity: indefinitely). */
export interface DecisionWithHorizon {
  decision: RetentionDecision;
  /**
   * The latest estimated end of the finite reasons that surely keep it (keepLast, the GFS slots of periods that
   * have ended, a grace period, a chain); undefined when it is deleted or kept only by open-ended reasons (pinned,
   * newest verified, minKeep) or by the slot of a period still running, which a later backup may take over.
   */
  keptUntil: Date | undefined;
}

/** {@link planRetention} with each kept backup's estimated horizon, which immutable storage locks up to. */
export function planWithHorizons(
  backups: readonly BackupSnapshot[],
  policy: Policy,
  now: Date,
): DecisionWithHorizon[] {
  const ids = new Set<string>();
  for (const backup of backups) {
    // A duplicate id would make "one decision per backup" ambiguous for the caller applying the plan.
    if (ids.has(backup.backupId)) throw new Error(`duplicate backupId "${backup.backupId}"`);
    ids.add(backup.backupId);
  }
  const groups = new Map<string | undefined, BackupSnapshot[]>();
  for (const backup of backups) {
    const group = groups.get(backup.group) ?? [];
    group.push(backup);
    groups.set(backup.group, group);
  }
  const planned = [...groups.values()].flatMap((group) => planGroup(group, policy, now));
  const order = new Map([...backups].sort(oldestFirst).map((b, index) => [b.backupId, index]));
  const position = (entry: DecisionWithHorizon): number => order.get(entry.decision.backupId) ?? 0;
  return planned.sort((a, b) => position(a) - position(b));
}

function planGroup(backups: readonly BackupSnapshot[], policy: Policy, now: Date): DecisionWithHorizon[] {
  const sorted = [...backups].sort(oldestFirst);

  const nowMs = now.getTime();
  const remote = policy.retention.remote;
  const reasons: KeepReason[][] = sorted.map(() => []);
  const verifiedNewestFirst: number[] = [];
  for (let index = sorted.length - 1; index >= 0; index--) {
    if (sorted[index]?.status === 'verified') verifiedNewestFirst.push(index);
  }
  const takenAt = (index: number): number => sorted[index]?.takenAt.getTime() ?? Number.NaN;
  const keep = (index: number, text: string, until: number, lockUntil = until): void => {
    reasons[index]?.push({ text, until, lockUntil });
  };

  sorted.forEach((backup, index) => {
    if (backup.pinned) keep(index, 'pinned', Infinity);
  });
  const newest = verifiedNewestFirst[0];
  if (newest !== undefined) keep(newest, 'newest verified', Infinity);
  for (const index of verifiedNewestFirst.slice(0, remote.keepLast)) {
    // Newer backups push it out; without the schedule, assume about one a day.
    keep(index, 'keepLast', takenAt(index) + remote.keepLast * DAY_MS);
  }

  const localDate = localDateReader(policy.timezone);
  const keysByIndex = new Map<number, Record<PeriodClass, string>>();
  for (const index of verifiedNewestFirst) {
    const backup = sorted[index];
    if (backup !== undefined) keysByIndex.set(index, periodKeys(localDate(backup.takenAt)));
  }
  const current = periodKeys(localDate(now));
  for (const periodClass of PERIOD_CLASSES) {
    const count = remote[periodClass];
    if (count === 0) continue;
    for (const [key, index] of newestPerPeriod(verifiedNewestFirst, keysByIndex, periodClass, count)) {
      const until = periodEnd(takenAt(index), periodClass, count);
      keep(index, `${periodClass} ${key}`, until, key === current[periodClass] ? Number.NaN : until);
    }
  }

  let verifiedKept = verifiedNewestFirst.filter((index) => reasons[index]?.length).length;
  for (const index of verifiedNewestFirst) {
    if (verifiedKept >= remote.minKeep) break;
    if (reasons[index]?.length === 0) {
      keep(index, 'minKeep', Infinity);
      verifiedKept++;
    }
  }

  sorted.forEach((backup, index) => {
    if (IN_PROGRESS.has(backup.status)) keep(index, 'in progress', Number.NaN);
  });
  keepChains(sorted, reasons);

  return sorted.map((backup, index): DecisionWithHorizon => {
    const kept = reasons[index] ?? [];
    if (backup.status === 'failed' || backup.status === 'corrupt') {
      const graceEnd = backup.takenAt.getTime() + remote.failedGraceDays * DAY_MS;
      if (nowMs <= graceEnd) kept.push({ text: 'grace period', until: graceEnd, lockUntil: graceEnd });
      else if (kept.length === 0)
        return { decision: deletion(backup, `${backup.status}, grace period over`), keptUntil: undefined };
    }
    if (kept.length === 0) return { decision: deletion(backup, 'expired'), keptUntil: undefined };
    const decision: RetentionDecision = {
      backupId: backup.backupId,
      action: 'keep',
      reasons: kept.map((reason) => reason.text),
      ...planTier(backup, kept, policy.tiering, nowMs),
    };
    return { decision, keptUntil: finiteHorizon(kept) };
  });
}

function finiteHorizon(reasons: readonly KeepReason[]): Date | undefined {
  const finite = reasons.map((reason) => reason.lockUntil).filter((until) => Number.isFinite(until));
  return finite.length === 0 ? undefined : new Date(Math.max(...finite));
}

/**
 * A chain is a unit: every backup that a kept one depends on is kept at least as long, so no restorable point
 * ever loses a member. `dependsOn` lists all of a backup's ancestors, so only its own reasons are passed on.
 */
function keepChains(sorted: readonly BackupSnapshot[], reasons: KeepReason[][]): void {
  const indexById = new Map(sorted.map((backup, index) => [backup.backupId, index]));
  const ownReasons = reasons.map((list) => [...list]);
  for (let index = sorted.length - 1; index >= 0; index--) {
    const backup = sorted[index];
    const own = ownReasons[index] ?? [];
    if (!backup?.dependsOn || own.length === 0) continue;
    const until = Math.max(...own.map((reason) => (Number.isNaN(reason.until) ? Infinity : reason.until)));
    const settled = own.map((reason) => reason.lockUntil).filter((at) => Number.isFinite(at));
    const lockUntil = settled.length > 0 ? Math.max(...settled) : Number.NaN;
    for (const id of backup.dependsOn) {
      const dependency = indexById.get(id);
      if (dependency === undefined) continue;
      reasons[dependency]?.push({ text: `chain of ${backup.backupId}`, until, lockUntil });
    }
  }
}

function oldestFirst(a: BackupSnapshot, b: BackupSnapshot): number {
  const byTime = a.takenAt.getTime() - b.takenAt.getTime();
  if (byTime !== 0) return byTime;
  return a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0;
}

function deletion(backup: BackupSnapshot, reason: string): RetentionDecision {
  return { backupId: backup.backupId, action: 'delete', reasons: [reason], tier: null };
}

/** The newest backup of each of the `count` latest periods that hold one, keyed by period. */
function newestPerPeriod(
  newestFirst: readonly number[],
  keysByIndex: ReadonlyMap<number, Record<PeriodClass, string>>,
  periodClass: PeriodClass,
  count: number,
): [string, number][] {
  const newestOf = new Map<string, number>();
  for (const index of newestFirst) {
    const key = keysByIndex.get(index)?.[periodClass];
    if (key !== undefined && !newestOf.has(key)) newestOf.set(key, index);
  }
  // Keys are zero-padded, so string order is calendar order, even where a DST change moves local time back.
  return [...newestOf].sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0)).slice(0, count);
}

/** When a `count`-period rule stops holding a backup, estimated from its own time (no schedule needed). */
function periodEnd(takenAtMs: number, periodClass: PeriodClass, count: number): number {
  const end = new Date(takenAtMs);
  switch (periodClass) {
    case 'daily':
      return takenAtMs + count * DAY_MS;
    case 'weekly':
      return takenAtMs + count * 7 * DAY_MS;
    case 'monthly':
      end.setUTCMonth(end.getUTCMonth() + count);
      return end.getTime();
    case 'yearly':
      end.setUTCFullYear(end.getUTCFullYear() + count);
      return end.getTime();
  }
}

/** Reads calendar dates in a time zone; one formatter per plan since constructing one is the slow part. */
function localDateReader(timeZone: string): (instant: Date) => LocalDate {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    calendar: 'gregory',
    numberingSystem: 'latn',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
  });
  return (instant) => {
    const date: LocalDate = { year: 0, month: 0, day: 0 };
    for (const part of format.formatToParts(instant)) {
      if (part.type === 'year' || part.type === 'month' || part.type === 'day')
        date[part.type] = Number(part.value);
    }
    return date;
  };
}

function periodKeys(date: LocalDate): Record<PeriodClass, string> {
  const year = String(date.year).padStart(4, '0');
  const month = `${year}-${pad2(date.month)}`;
  return { daily: `${month}-${pad2(date.day)}`, weekly: isoWeek(date), monthly: month, yearly: year };
}

/** ISO 8601 week `YYYY-Www`: the week belongs to the year holding its Thursday (so 2027-01-01 is 2026-W53). */
function isoWeek({ year, month, day }: LocalDate): string {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  const mondayBased = (date.getUTCDay() + 6) % 7;
  const thursday = new Date(date.getTime() + (3 - mondayBased) * DAY_MS);
  const weekYear = thursday.getUTCFullYear();
  const januaryFirst = new Date(0);
  januaryFirst.setUTCFullYear(weekYear, 0, 1);
  const week = Math.floor((thursday.getTime() - januaryFirst.getTime()) / (7 * DAY_MS)) + 1;
  return `${String(weekYear).padStart(4, '0')}-W${pad2(week)}`;
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}

/** The tier move due by age, unless the backup would leave the new tier before Azure's minimum there. */
function planTier(
  backup: BackupSnapshot,
  reasons: readonly KeepReason[],
  tiering: TieringPolicy,
  nowMs: number,
): Pick<RetentionDecision, 'tier' | 'tierNote'> {
  const current = backup.tier;
  if (current === null) return { tier: null };
  const takenAtMs = backup.takenAt.getTime();
  const steps: TierStep[] = [];
  for (const [key, tier] of TIER_STEPS) {
    const days = tiering[key];
    if (days !== undefined) steps.push({ key, tier, days });
  }
  const due = (step: TierStep): boolean => nowMs - takenAtMs >= step.days * DAY_MS;
  let target: TierStep | undefined;
  for (const step of steps) {
    if (due(step) && (target === undefined || coldness(step.tier) > coldness(target.tier))) target = step;
  }
  if (target === undefined || coldness(target.tier) <= coldness(current)) return { tier: null };
  const to = target.tier;

  // The artifact may still be checked or read by the verifier; moving it (Archive above all) could block that.
  if (reasons.some((reason) => reason.text === 'in progress')) {
    return { tier: null, tierNote: `stays ${current}: not verified yet` };
  }

  const expiresAt = Math.max(...reasons.map((reason) => reason.until));
  let nextMove: TierStep | undefined;
  for (const step of steps) {
    if (
      coldness(step.tier) > coldness(to) &&
      !due(step) &&
      (nextMove === undefined || step.days < nextMove.days)
    ) {
      nextMove = step;
    }
  }
  const nextMoveAt = nextMove === undefined ? Infinity : takenAtMs + nextMove.days * DAY_MS;
  const minimumMs = EARLY_DELETION_DAYS[to] * DAY_MS;
  const minimum = `before ${to}'s ${EARLY_DELETION_DAYS[to]} d minimum`;
  if (expiresAt <= nextMoveAt && expiresAt - nowMs < minimumMs) {
    return {
      tier: null,
      tierNote: `stays ${current}: expires in ~${daysUntil(expiresAt, nowMs)} d, ${minimum}`,
    };
  }
  if (nextMove !== undefined && nextMoveAt - nowMs < minimumMs) {
    return {
      tier: null,
      tierNote: `stays ${current}: due for ${nextMove.tier} in ~${daysUntil(nextMoveAt, nowMs)} d, ${minimum}`,
    };
  }
  const change: TierChange = {
    from: current,
    to,
    reason: `age ${Math.floor((nowMs - takenAtMs) / DAY_MS)} d ≥ ${target.key} ${target.days}`,
  };
  return { tier: change };
}

function coldness(tier: AccessTier): number {
  return ACCESS_TIERS.indexOf(tier);
}

function daysUntil(atMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((atMs - nowMs) / DAY_MS));
}
