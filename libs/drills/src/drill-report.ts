import { ACCESS_TIERS } from '@tidemark/manifest';
import { z } from 'zod';

/** One check (from the restore test) or assertion (from the policy) of a drill; values as text. */
export const drillCheckSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  expected: z.string().optional(),
  actual: z.string().optional(),
  detail: z.string().optional(),
});
export type DrillCheck = z.infer<typeof drillCheckSchema>;

const ms = z.number().nonnegative();

/**
 * What one drill proved, as written to `<targetId>/drills/<drillId>.json`: the backup, its age and tier, every
 * check and assertion with expected and actual values, the phase timings, the RTO against its target.
 */
export const drillReportSchema = z.object({
  v: z.literal(1),
  drillId: z.string().min(1),
  targetId: z.string().min(1),
  /** Which `drills.pick` chose it (`backup` when one was named). */
  picks: z.array(z.string()),
  backup: z.object({
    backupId: z.string(),
    takenAt: z.string(),
    ageSeconds: z.number().nonnegative(),
    tier: z.enum(ACCESS_TIERS).nullable(),
    /** Backups restored for it: 1, or the chain's members from its full. */
    members: z.number().int().min(1),
    rehydrated: z.boolean(),
  }),
  /** Where the copy was made (never a url with credentials). */
  scratch: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  checks: z.array(drillCheckSchema),
  assertions: z.array(drillCheckSchema),
  phasesMs: z.object({ rehydrate: ms, download: ms, restore: ms, checks: ms, cleanup: ms }),
  rto: z.object({ seconds: ms, targetSeconds: z.number().positive(), breached: z.boolean() }),
  tools: z.record(z.string(), z.string()),
  result: z.enum(['passed', 'failed']),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  cleanup: z.object({ ok: z.boolean(), detail: z.string().optional() }),
});
export type DrillReport = z.infer<typeof drillReportSchema>;

export function drillReportBlobName(targetId: string, drillId: string): string {
  return `${targetId}/drills/${drillId}.json`;
}

export function drillReportPrefix(targetId: string): string {
  return `${targetId}/drills/`;
}

/** What failed in a report, one entry each (the RTO too, when breached), for the event and the CLI. */
export function failedChecks(report: Pick<DrillReport, 'checks' | 'assertions' | 'rto'>): DrillCheck[] {
  const failed = [...report.checks, ...report.assertions].filter((check) => !check.ok);
  if (report.rto.breached)
    failed.push({
      name: 'rto',
      ok: false,
      expected: `<= ${report.rto.targetSeconds} s`,
      actual: `${report.rto.seconds} s`,
    });
  return failed;
}
