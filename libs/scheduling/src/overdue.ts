import { CronExpressionParser } from 'cron-parser';

export type OverdueLevel = 'ok' | 'warning' | 'critical';
export type OverdueReason = 'rpo-exceeded' | 'missed-schedule';

export const OVERDUE_LEVELS: readonly OverdueLevel[] = ['ok', 'warning', 'critical'];

export interface OverdueInput {
  now: Date;
  rpoHours: number;
  schedule: string;
  timezone: string;
  /** How long after a scheduled run a backup may still be missing before the run counts as missed. */
  graceMs: number;
  /** Start time and id of the newest verified backup. */
  lastVerified: { backupId: string; at: Date } | undefined;
  /** Start time of the newest backup in any state, as far as anyone can see (catalog, local tier, dump lock). */
  newestStartedAt: Date | undefined;
  /** Since when the watchdog has known the target: the stand-in for a backup's age before the first one. */
  watchedSince: Date;
}

export interface OverdueAssessment {
  level: OverdueLevel;
  /** Why the level is not ok; null when it is. */
  reason: OverdueReason | null;
  /** Age of the newest verified backup; null when there is none. */
  ageSeconds: number | null;
  lastVerifiedBackupId: string | null;
  /** The scheduled run that produced no backup, when one did not. */
  missedRunAt: Date | null;
}

// Backup ids have second precision and hosts' clocks drift a little: a backup started this close before the
// scheduled time still belongs to that run.
const CLOCK_SKEW_MS = 5_000;

/** The last time at or before `at` when `schedule` fired, in `timezone`. */
export function previousRun(schedule: string, timezone: string, at: Date): Date {
  return CronExpressionParser.parse(schedule, { tz: timezone, currentDate: new Date(at.getTime() + 1) })
    .prev()
    .toDate();
}

/**
 * Whether a target is within its RPO: warning once the newest verified backup is older than `rpoHours`, critical
 * at twice that, and warning as well when a scheduled run passed (beyond the grace) with no backup started since.
 */
export function assessOverdue(input: OverdueInput): OverdueAssessment {
  const rpoMs = input.rpoHours * 3_600_000;
  const ageMs = input.now.getTime() - (input.lastVerified?.at ?? input.watchedSince).getTime();
  const rpoLevel: OverdueLevel = ageMs > 2 * rpoMs ? 'critical' : ageMs > rpoMs ? 'warning' : 'ok';

  const lastDue = previousRun(input.schedule, input.timezone, new Date(input.now.getTime() - input.graceMs));
  // A run before the watchdog knew the target may predate its schedule; it is not counted as missed.
  const missed =
    lastDue.getTime() >= input.watchedSince.getTime() &&
    (input.newestStartedAt === undefined ||
      input.newestStartedAt.getTime() < lastDue.getTime() - CLOCK_SKEW_MS);

  const level: OverdueLevel = rpoLevel === 'ok' && missed ? 'warning' : rpoLevel;
  return {
    level,
    reason: rpoLevel !== 'ok' ? 'rpo-exceeded' : missed ? 'missed-schedule' : null,
    ageSeconds: input.lastVerified ? Math.round(ageMs / 1000) : null,
    lastVerifiedBackupId: input.lastVerified?.backupId ?? null,
    missedRunAt: missed ? lastDue : null,
  };
}
