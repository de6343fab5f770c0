import type { PlannedBackup, RetentionReport, WalPlanView } from '@tidemark/retention';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { auditCli } from '../audit';
import { formatBytes, printJson, printTable } from '../output';

export function registerRetention(program: Command, context: () => CliContext): void {
  const retention = program
    .command('retention')
    .description('what the retention policy keeps, tiers and deletes, and applying it');

  retention
    .command('plan <target>')
    .description('what would be kept, tiered and deleted, and why (changes nothing)')
    .action(async (targetId: string) => {
      const ctx = context();
      const plan = await (await ctx.storage()).retentionPlanner.plan(targetId);
      if (ctx.options.json) {
        printJson(plan);
        return;
      }
      console.log(`retention plan of ${targetId} (policy ${plan.policy}) at ${plan.now}`);
      printTable(
        plan.backups.map((b) => ({
          backup: b.backupId,
          age: `${b.ageDays}d`,
          status: b.status,
          tier: b.tier,
          reasons: b.reasons.join(', '),
          action: b.action,
          tierMove: b.tierMove
            ? `${b.tierMove.from} → ${b.tierMove.to} (${b.tierMove.reason})`
            : (b.tierNote ?? null),
          ...(b.lock && { lock: lockText(b.lock) }),
        })),
        false,
        'no backups yet',
      );
      const deletes = plan.backups.filter((b) => b.action === 'delete');
      const moves = plan.backups.filter((b) => b.tierMove);
      const localRemovals = plan.local.filter((l) => l.action === 'remove');
      console.log(
        `\n${plan.backups.length - deletes.length} kept, ${deletes.length} to delete ` +
          `(${formatBytes(deletes.reduce((n, b) => n + b.sizeBytes, 0))}), ${moves.length} tier move(s), ` +
          `${localRemovals.length} local cop${localRemovals.length === 1 ? 'y' : 'ies'} to remove`,
      );
      if (plan.wal) printWalPlan(plan.wal);
      for (const copy of plan.local.filter((l) => l.attention))
        console.log(`local copy ${copy.backupId} kept: ${copy.reason}`);
      for (const bad of plan.unreadable)
        console.error(`tidemark: unreadable manifest ${bad.blobName} left alone: ${bad.error}`);
    });

  retention
    .command('apply <target>')
    .description('apply the retention policy now (--dry-run: only say what it would do)')
    .option('--dry-run', 'change nothing, publish nothing')
    .action(async (targetId: string, options: { dryRun?: boolean }) => {
      const ctx = context();
      const dryRun = Boolean(options.dryRun);
      const report = await (await ctx.services()).retention.apply(targetId, { dryRun });
      // After the run: what it did is the record; a dry run changes nothing, so it is not audited.
      if (!dryRun && !report.skipped)
        await auditCli(ctx, 'tidemark.audit.retention_applied', targetId, undefined, {
          deleted: report.deleted.length,
          tiered: report.tiered.length,
        });
      if (ctx.options.json) {
        printJson(report);
        return;
      }
      printReport(report);
    });
}

function printReport(r: RetentionReport): void {
  if (r.skipped) {
    console.log(`retention of ${r.targetId} skipped: ${r.skipped.reason} (${r.skipped.holder})`);
    return;
  }
  const verb = r.dryRun ? 'would delete' : 'deleted';
  console.log(
    `${r.dryRun ? '(dry run) ' : ''}${r.targetId}: ${r.kept} kept, ${verb} ${r.deleted.length} ` +
      `(${formatBytes(r.bytesFreed)})${r.resumed.length ? `, ${r.resumed.length} resumed` : ''}, ` +
      `${r.tiered.length} tier move(s), ${r.local.removed.length} local cop${r.local.removed.length === 1 ? 'y' : 'ies'} removed`,
  );
  for (const id of r.deleted) console.log(`  ${r.dryRun ? 'would delete' : 'deleted'} ${id}`);
  for (const t of r.tiered) console.log(`  ${t.backupId}: ${t.from} → ${t.to}`);
  for (const l of r.locked) console.log(`  ${l.backupId} kept: locked until ${l.until}`);
  for (const l of r.locksExtended)
    console.log(`  ${l.backupId}: lock ${r.dryRun ? 'would be ' : ''}extended to ${l.until}`);
  for (const k of r.local.kept) console.log(`  local copy ${k.backupId} kept: ${k.reason}`);
  for (const u of r.unreadable)
    console.error(`tidemark: unreadable manifest ${u.blobName} left alone: ${u.error}`);
  if (r.wal) {
    const w = r.wal;
    console.log(
      `  WAL: ${w.kept} kept, ${verb} ${w.deleted.length} (${formatBytes(w.bytesFreed)}), ${w.tiered.length} tier move(s)`,
    );
    for (const f of w.failures) console.error(`tidemark: ${f.step} ${f.blobName}: ${f.message}`);
  }
  const tiers = Object.entries(r.bytesPerTier)
    .filter(([, bytes]) => bytes > 0)
    .map(([tier, bytes]) => `${tier} ${formatBytes(bytes)}`);
  console.log(`  in Blob Storage after: ${tiers.join(', ') || 'nothing'}`);
}

/** `locked until <t>` (`→ <t>` when it is extended), or `none yet` for a backup committed before the lock. */
function lockText(lock: NonNullable<PlannedBackup['lock']>): string {
  const current = lock.until === null ? `${lock.mode}: none yet` : `${lock.mode} until ${lock.until}`;
  return lock.extendTo === undefined ? current : `${current} → ${lock.extendTo}`;
}

/** The WAL archive's ranges: what stays and why, what goes and why, what moves tier. */
function printWalPlan(wal: WalPlanView): void {
  console.log(`\nWAL archive (PITR window ${wal.windowDays} d, from ${wal.windowStart})`);
  printTable(
    wal.ranges.map((r) => ({
      timeline: r.timeline,
      kind: r.kind,
      files: r.count === 1 ? r.first : `${r.first} … ${r.last}`,
      count: r.count,
      size: formatBytes(r.bytes),
      received: r.from === r.to ? r.from : `${r.from ?? '?'} … ${r.to ?? '?'}`,
      action: r.action,
      reasons: r.reasons.join(', '),
      tierMove: r.tierMove ? `${r.tierMove.from} → ${r.tierMove.to}` : null,
    })),
    false,
    'no WAL archived yet',
  );
  console.log(
    `WAL: ${wal.kept.count} file(s) kept (${formatBytes(wal.kept.bytes)}), ${wal.deleted.count} to delete ` +
      `(${formatBytes(wal.deleted.bytes)}), ${wal.tierMoves} tier move(s)`,
  );
  for (const h of wal.unreadableHistories)
    console.error(`tidemark: history of timeline ${h.timeline} unreadable, its WAL kept: ${h.error}`);
}
