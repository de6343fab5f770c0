import type { Command } from 'commander';
import { BlobDrillReportStore, drillIdFor, failedChecks, type DrillReport } from '@tidemark/drills';
import { JOBS } from '@tidemark/queues';
import { randomUUID } from 'node:crypto';
import type { CliContext } from '../context';
import { printJson, printTable } from '../output';
import { eventCursor } from '../wait-for-backup';

const DRILL_ENDS = new Set(['tidemark.drill.completed', 'tidemark.drill.failed']);

export function registerDrill(program: Command, context: () => CliContext): void {
  program
    .command('drill <target>')
    .description('queue a restore drill now (the policy’s picks, or --backup); --wait prints its report')
    .option('--backup <id>', 'drill this backup')
    .option('--wait', 'wait for the drill and print its report; exit 1 when it failed')
    .option('--timeout <seconds>', 'how long to wait', '7200')
    .action(async (targetId: string, options: { backup?: string; wait?: boolean; timeout: string }) => {
      const ctx = context();
      if (!ctx.config().targets.some((t) => t.id === targetId)) unknownTarget(ctx, targetId);
      const drillId = drillIdFor(randomUUID(), new Date());
      const from = options.wait ? await eventCursor(ctx) : '$';
      const job = {
        v: 1 as const,
        targetId,
        drillId,
        ...(options.backup ? { backupId: options.backup } : {}),
      };
      await (await ctx.services()).jobs.add(JOBS.drill, job);
      if (!options.wait) {
        console.log(`drill ${drillId} of ${targetId} queued`);
        return;
      }
      const reports = await waitForDrill(ctx, targetId, drillId, from, Number(options.timeout) * 1000);
      if (ctx.options.json) printJson(reports);
      else for (const report of reports) printSummary(report);
      if (reports.some((r) => r.result === 'failed')) process.exitCode = 1;
    });

  program
    .command('drills <target>')
    .description('the restore drills of a target: when, which backup, tier, result, RTO against its target')
    .action(async (targetId: string) => {
      const ctx = context();
      const { store } = await ctx.storage();
      const { reports, unreadable } = await new BlobDrillReportStore(store).list(targetId);
      printTable(
        reports.map((r) => ({
          started: r.startedAt,
          drill: r.drillId,
          backup: r.backup.backupId,
          tier: r.backup.tier,
          result: r.result,
          rto: `${r.rto.seconds.toFixed(1)} s / ${r.rto.targetSeconds} s`,
          failed: failures(r) || null,
        })),
        Boolean(ctx.options.json),
        `no drills of ${targetId} yet`,
      );
      for (const bad of unreadable) console.error(`tidemark: cannot read ${bad.name}: ${bad.error}`);
    });
}

function unknownTarget(ctx: CliContext, targetId: string): never {
  const known = ctx
    .config()
    .targets.map((t) => t.id)
    .join(', ');
  throw new Error(`unknown target "${targetId}" (known: ${known})`);
}

/** Follows the events until every drill of this request has ended, then reads their reports. */
async function waitForDrill(
  ctx: CliContext,
  targetId: string,
  drillId: string,
  from: string,
  timeoutMs: number,
): Promise<DrillReport[]> {
  const bus = await ctx.bus();
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, timeoutMs);
  const ended: string[] = [];
  try {
    // One drill per picked backup, each `<drillId>` or `<drillId>-<picks>`; the job is done when the last ends.
    for await (const { event } of bus.follow({ from, signal: controller.signal })) {
      const id = event.data['drillId'];
      if (!DRILL_ENDS.has(event.type) || typeof id !== 'string' || !id.startsWith(drillId)) continue;
      ended.push(id);
      if (await allEnded(ctx, targetId, drillId, ended)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  if (ended.length === 0)
    throw new Error(
      `gave up waiting for drill ${drillId} after ${Math.round(timeoutMs / 1000)}s (tidemark drills ${targetId})`,
    );
  const { store } = await ctx.storage();
  const reports = new BlobDrillReportStore(store);
  const found = await Promise.all(ended.map((id) => reports.find(targetId, id)));
  return found.filter((r): r is DrillReport => r !== null);
}

/** Whether the policy's picks are all drilled: the job's reports are written before their events. */
async function allEnded(
  ctx: CliContext,
  targetId: string,
  drillId: string,
  ended: string[],
): Promise<boolean> {
  const { store } = await ctx.storage();
  const { reports } = await new BlobDrillReportStore(store).list(targetId);
  const ours = reports.filter((r) => r.drillId.startsWith(drillId)).map((r) => r.drillId);
  const target = ctx.config().targets.find((t) => t.id === targetId);
  const picks = target ? (ctx.config().policies[target.policy]?.drills?.pick.length ?? 1) : 1;
  return ours.every((id) => ended.includes(id)) && (ended.includes(drillId) || ended.length >= picks);
}

function failures(report: DrillReport): string {
  return failedChecks(report)
    .map((c) => `${c.name}: expected ${c.expected ?? '?'}, got ${c.actual ?? c.detail ?? '?'}`)
    .concat(report.error ? [`${report.error.code}: ${report.error.message}`] : [])
    .join('; ');
}

function printSummary(report: DrillReport): void {
  const { backup, rto, phasesMs } = report;
  console.log(`drill ${report.drillId} of ${report.targetId}: ${report.result.toUpperCase()}`);
  console.log(
    `  backup ${backup.backupId} (${backup.tier ?? 'no tier'}, ${Math.round(backup.ageSeconds / 3600)} h old${backup.rehydrated ? ', rehydrated from Archive' : ''}${backup.members > 1 ? `, chain of ${backup.members}` : ''})`,
  );
  console.log(`  restored on ${report.scratch}`);
  console.log(
    `  RTO ${rto.seconds.toFixed(1)} s of ${rto.targetSeconds} s${rto.breached ? ' (BREACHED)' : ''}: rehydrate ${phasesMs.rehydrate} ms, download ${phasesMs.download} ms, restore ${phasesMs.restore} ms, checks ${phasesMs.checks} ms`,
  );
  for (const check of [...report.checks, ...report.assertions])
    console.log(
      `  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}${check.expected !== undefined ? `: expected ${check.expected}` : ''}${check.actual !== undefined ? `, got ${check.actual}` : ''}${check.detail ? ` (${check.detail})` : ''}`,
    );
  if (report.error) console.log(`  error ${report.error.code}: ${report.error.message}`);
}
