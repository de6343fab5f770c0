import type { Command } from 'commander';
import type { RehydratePriority } from '@tidemark/storage';
import { redact } from '@tidemark/events';
import { auditCli } from '../audit';
import type { CliContext } from '../context';
import {
  parseRecoveryTarget,
  parseStart,
  pointInTimeOnlyFlags,
  restoreToPoint,
  type PointInTimeFlags,
} from './restore-point-in-time';
import {
  printRehydrating,
  printRestored,
  printRunRestored,
  rehydrationReporter,
  restoreProgress,
} from '../restore-output';

/** The options as commander gives them. */
type RestoreFlags = PointInTimeFlags;

/** The flags checked: numbers, times and choices parsed, each bad one a clear error naming it. */
interface RestoreOptions {
  targetId: string;
  flags: RestoreFlags;
  jobs: number | undefined;
  priority: RehydratePriority;
  at: Date | undefined;
}

export function registerRestore(program: Command, context: () => CliContext): void {
  program
    .command('restore <target>')
    .description(
      'restore a backup (the newest verified one by default) into a database or a file; a target with a WAL archive to a point in time',
    )
    .option('--backup <backupId>', 'restore this backup')
    .option(
      '--at <time>',
      'restore the newest verified backup taken at or before this ISO time; targets with a WAL archive: recover to this time',
    )
    .option('--lsn <X/Y>', 'targets with a WAL archive: recover to this WAL position')
    .option('--latest', 'targets with a WAL archive: recover to the newest archived WAL (the default)')
    .option('--start', 'targets with a WAL archive: start the restored server and wait until recovery ended')
    .option('--port <n>', 'with --start: the port the restored server listens on')
    .requiredOption(
      '--to <url|path>',
      'destination: a database URL (use ${ENV_VAR} to keep its password out of argv), a file path, or an empty data directory',
    )
    .option('--clean', 'replace what the destination already holds')
    .option('--database <name>', 'server targets (databases:): restore this database')
    .option(
      '--all-databases',
      'server targets: restore the newest complete run, roles first, each database into its own name on the --to server',
    )
    .option('--jobs <n>', 'parallel pg_restore workers for backups taken with jobs (default 2)')
    .option(
      '--priority <Standard|High>',
      'rehydration priority when the backup is in the Archive tier (High is faster and costs more)',
      'Standard',
    )
    .option('--wait', 'when the backup is in the Archive tier: wait for its rehydration, then restore')
    .action(async (targetId: string, flags: RestoreFlags) => {
      // Every flag is checked before anything is opened: a typo fails at once, whatever the target.
      const options = parseRestoreOptions(targetId, flags);
      parseRecoveryTarget(flags);
      parseStart(flags);
      const ctx = context();
      const { pointInTime } = await ctx.storage();
      if (await pointInTime.hasWalArchive(targetId)) {
        await restoreToPoint(ctx, targetId, flags);
        return;
      }
      const only = pointInTimeOnlyFlags(flags);
      if (only.length > 0)
        throw new Error(
          `${only.join(', ')}: only for targets with base backups and a WAL archive (method: physical); ${targetId} has none`,
        );
      if (flags.allDatabases) await restoreWholeRun(ctx, options);
      else await restoreOneBackup(ctx, options);
    });
}

function parseRestoreOptions(targetId: string, flags: RestoreFlags): RestoreOptions {
  const jobs = flags.jobs === undefined ? undefined : Number(flags.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > 32))
    throw new Error(`--jobs: "${flags.jobs}" is not a whole number from 1 to 32`);
  if (flags.priority !== 'Standard' && flags.priority !== 'High')
    throw new Error(`--priority: "${flags.priority}" is not Standard or High`);
  let at: Date | undefined;
  if (flags.at) {
    at = new Date(flags.at);
    if (Number.isNaN(at.getTime()))
      throw new Error(`--at: "${flags.at}" is not an ISO time (e.g. 2026-11-21T02:00:00Z)`);
  }
  if (flags.allDatabases && (flags.backup || flags.database))
    throw new Error('--all-databases restores a whole run; it takes neither --backup nor --database');
  return { targetId, flags, jobs, priority: flags.priority, at };
}

/** `--all-databases`: the newest complete run of a server target, roles first. */
async function restoreWholeRun(
  ctx: CliContext,
  { targetId, flags, jobs, at }: RestoreOptions,
): Promise<void> {
  const { restores } = await ctx.storage();
  await auditCli(ctx, 'tidemark.audit.restore_requested', targetId, undefined, {
    destination: redact(flags.to),
  });
  const results = await restores.restoreRun({
    targetId,
    ...(at ? { at } : {}),
    to: flags.to,
    clean: Boolean(flags.clean),
    ...(jobs ? { jobs } : {}),
  });
  printRunRestored(ctx, results);
}

/** One backup (named, at a time, or the newest verified), rehydrated first when it is in the Archive tier. */
async function restoreOneBackup(ctx: CliContext, options: RestoreOptions): Promise<void> {
  const { targetId, flags, jobs, at, priority } = options;
  const { restores } = await ctx.storage();
  await auditCli(ctx, 'tidemark.audit.restore_requested', targetId, flags.backup, {
    destination: redact(flags.to),
  });
  const progress = restoreProgress(ctx, targetId);
  const result = await restores
    .restore({
      targetId,
      ...(flags.backup ? { backupId: flags.backup } : {}),
      ...(at ? { at } : {}),
      ...(flags.database ? { database: flags.database } : {}),
      ...(jobs ? { jobs } : {}),
      to: flags.to,
      clean: Boolean(flags.clean),
      onStart: progress.onStart,
      onProgress: progress.onProgress,
      rehydrate: {
        priority,
        wait: Boolean(flags.wait),
        pollMs: Number(ctx.env['TIDEMARK_REHYDRATE_POLL_MS'] ?? 60_000),
        ...rehydrationReporter(ctx),
      },
    })
    .finally(progress.stop);
  if ('rehydrating' in result) {
    // Typed as given (a ${VAR} reference stays a reference), so the command is safe to copy.
    const resume = [
      'tidemark restore',
      targetId,
      '--backup',
      result.manifest.backupId,
      '--to',
      `'${flags.to}'`,
      ...(flags.clean ? ['--clean'] : []),
      '--wait',
    ].join(' ');
    printRehydrating(ctx, result, resume);
    return;
  }
  printRestored(ctx, result);
}
