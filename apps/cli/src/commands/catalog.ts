import { declaredTargetsOf, scratchLabel, targetEnvIssues } from '@tidemark/config';
import { errorData } from '@tidemark/events';
import { backupIdTime, displayStatus, type Manifest } from '@tidemark/manifest';
import { policyOf } from '@tidemark/policy';
import { isPhysicalTarget, readRecoveryWindow, type RecoveryWindowView } from '@tidemark/retention';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { formatAge, formatBytes, printJson, printTable } from '../output';

/** Read-only views of the config and the catalog: targets, list, show. */
export function registerCatalog(program: Command, context: () => CliContext): void {
  program
    .command('targets')
    .description(
      'configured targets with schedule, last verified backup, its age, RPO state and any problem with its url',
    )
    .action(async () => {
      const ctx = context();
      const { config, catalog, store } = await ctx.storage();
      // Unset ${VAR}s and urls they make unparseable, in this environment: the services' own start check.
      const problems = targetEnvIssues(declaredTargetsOf(config), ctx.env);
      const { manifests } = await catalog.list();
      const now = Date.now();
      // Physical targets: what `restore --at` can reach, from the catalog's base backups and the WAL archive.
      const windows = new Map<string, RecoveryWindowView>();
      for (const target of config.targets.filter(isPhysicalTarget)) {
        const window = await readRecoveryWindow(store, target.id, manifests).catch(
          (error: unknown): RecoveryWindowView => ({
            earliest: null,
            latest: null,
            ranges: [],
            none: `the WAL archive cannot be read: ${errorData(error).message}`,
          }),
        );
        windows.set(target.id, window);
      }
      const rows = config.targets.map((target) => {
        const policy = policyOf(config, target);
        const last = manifests.filter((m) => m.target.id === target.id && m.status === 'verified').at(-1);
        const ageMs = last ? now - backupIdTime(last.backupId).getTime() : null;
        return {
          target: target.id,
          kind: target.kind,
          schedule: `${policy.schedule} ${policy.timezone}`,
          lastVerified: last?.backupId ?? null,
          age: ageMs === null ? null : formatAge(ageMs),
          rpo: ageMs !== null && ageMs <= policy.rpoHours * 3600_000 ? 'ok' : 'overdue',
          // Where restore tests and drills run: `source (no scratch)` is the target's own server.
          scratch: scratchLabel(config, target.id, ctx.env),
          // Only when a target has a recovery window: the table of logical targets stays as it was.
          ...(windows.size > 0 && { recovery: recoveryCell(windows.get(target.id)) }),
          problem:
            problems
              .filter((problem) => problem.targetId === target.id)
              .map((problem) => problem.message)
              .join('; ') || null,
        };
      });
      if (ctx.options.json) {
        // The whole view (every range, or why there is none) rather than the table's one cell.
        printJson(rows.map((row) => ({ ...row, recoveryWindow: windows.get(row.target) ?? null })));
        return;
      }
      printTable(rows, false);
    });

  program
    .command('list [target]')
    .description('backups from the catalog (Blob Storage), oldest first')
    .action(async (targetId: string | undefined) => {
      const ctx = context();
      const { manifests, unreadable } = await (await ctx.storage()).catalog.list(targetId);
      const now = Date.now();
      printTable(
        manifests.map((m) => ({
          backupId: m.backupId,
          target: m.target.id,
          kind: m.target.kind,
          of: m.run?.role === 'globals' ? 'globals' : m.target.database,
          type: backupType(m),
          status: displayStatus(m),
          size: ctx.options.json ? m.artifact.size : formatBytes(m.artifact.size),
          age: formatAge(now - backupIdTime(m.backupId).getTime()),
          tier: m.locations.remote?.tier ?? null,
          trigger: m.trigger,
        })),
        Boolean(ctx.options.json),
        'no backups yet',
      );
      for (const bad of unreadable)
        console.error(`tidemark: unreadable manifest ${bad.blobName}: ${bad.error}`);
    });

  program
    .command('show <backupId>')
    .description('the manifest of one backup')
    .action(async (backupId: string) => {
      const ctx = context();
      const { catalog, config } = await ctx.storage();
      const found = await catalog.find(backupId);
      if (!found) throw new Error(`no backup ${backupId} in container ${config.storage.container}`);
      printJson(found.manifest);
    });
}

/** earliest → latest (and how many ranges a WAL gap makes), `none: <why>`, or null for a logical target. */
function recoveryCell(window: RecoveryWindowView | undefined): string | null {
  if (!window) return null;
  if (window.none !== null || window.earliest === null || window.latest === null)
    return `none: ${window.none ?? 'nothing restorable'}`;
  const gaps = window.ranges.length > 1 ? ` (${window.ranges.length} ranges: WAL gap)` : '';
  return `${window.earliest} → ${window.latest}${gaps}`;
}

/** `full`, `incr 3` (third after its full), or the run a server target's backup belongs to. */
function backupType(m: Manifest): string {
  if (m.chain) return m.chain.position === 0 ? 'full' : `incr ${m.chain.position}`;
  if (m.run) return `run ${m.run.id}`;
  return 'full';
}
