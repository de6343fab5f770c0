import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { errorData, EventPublisher, type EventDetails } from '@tidemark/events';
import type { CliContext } from '../context';
import { formatBytes, printJson } from '../output';

export function registerRestore(program: Command, context: () => CliContext): void {
  program
    .command('restore <target>')
    .description('restore a backup (the newest verified one by default) into a database or a file')
    .option('--backup <backupId>', 'restore this backup')
    .option('--at <time>', 'restore the newest verified backup taken at or before this ISO time')
    .requiredOption(
      '--to <url|path>',
      'destination: a database URL (use ${ENV_VAR} to keep its password out of argv) or a file path',
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
    .action(
      async (
        targetId: string,
        options: {
          backup?: string;
          at?: string;
          to: string;
          clean?: boolean;
          priority: string;
          wait?: boolean;
          database?: string;
          allDatabases?: boolean;
          jobs?: string;
        },
      ) => {
        const ctx = context();
        const jobs = options.jobs === undefined ? undefined : Number(options.jobs);
        if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > 32))
          throw new Error(`--jobs: "${options.jobs}" is not a whole number from 1 to 32`);
        if (options.priority !== 'Standard' && options.priority !== 'High')
          throw new Error(`--priority: "${options.priority}" is not Standard or High`);
        const priority = options.priority;
        let at: Date | undefined;
        if (options.at) {
          at = new Date(options.at);
          if (Number.isNaN(at.getTime()))
            throw new Error(`--at: "${options.at}" is not an ISO time (e.g. 2026-11-21T02:00:00Z)`);
        }
        if (options.allDatabases) {
          if (options.backup || options.database)
            throw new Error('--all-databases restores a whole run; it takes neither --backup nor --database');
          const results = await ctx.restores
            .restoreRun({
              targetId,
              ...(at ? { at } : {}),
              to: options.to,
              clean: Boolean(options.clean),
              ...(jobs ? { jobs } : {}),
            })
            .catch(async (error: unknown) => {
              await publishRestoreEvent(ctx, 'tidemark.restore.failed', targetId, undefined, {
                stage: 'restore',
                error: errorData(error),
              });
              throw error;
            });
          for (const result of results) {
            await publishRestoreEvent(ctx, 'tidemark.restore.completed', targetId, result.manifest.backupId, {
              stage: 'restore',
              destination: result.destination,
              sizes: { compressed: result.bytes },
              durations: { restore: result.durationMs },
            });
          }
          if (ctx.options.json) {
            printJson(
              results.map((r) => ({
                backupId: r.manifest.backupId,
                database: r.manifest.run?.role === 'globals' ? null : r.manifest.target.database,
                destination: r.destination,
                bytes: r.bytes,
                durationMs: r.durationMs,
              })),
            );
            return;
          }
          for (const r of results) {
            const what =
              r.manifest.run?.role === 'globals' ? 'roles' : `database ${r.manifest.target.database}`;
            console.log(`restored ${what} from ${r.manifest.backupId} into ${r.destination}`);
          }
          return;
        }
        const showProgress = process.stderr.isTTY && !ctx.options.json;
        const bar = new SingleBar({
          format: 'restoring {backupId} [{bar}] {percentage}% {done}/{total}',
          stream: process.stderr,
          hideCursor: true,
        });
        let total = 0;
        const started = Date.now();
        const result = await ctx.restores
          .restore({
            targetId,
            ...(options.backup ? { backupId: options.backup } : {}),
            ...(at ? { at } : {}),
            ...(options.database ? { database: options.database } : {}),
            ...(jobs ? { jobs } : {}),
            to: options.to,
            clean: Boolean(options.clean),
            onStart: (manifest, size) => {
              total = size;
              if (!ctx.options.json)
                console.log(
                  `restoring ${manifest.backupId} (${manifest.status}, ${formatBytes(size)}) of ${targetId}`,
                );
              if (showProgress)
                bar.start(size, 0, {
                  backupId: manifest.backupId,
                  done: formatBytes(0),
                  total: formatBytes(size),
                });
            },
            onProgress: (bytes) => {
              if (showProgress) bar.update(bytes, { done: formatBytes(bytes), total: formatBytes(total) });
            },
            rehydrate: {
              priority,
              wait: Boolean(options.wait),
              pollMs: Number(ctx.env['TIDEMARK_REHYDRATE_POLL_MS'] ?? 60_000),
              onStarted: (info) => {
                if (ctx.options.json) return;
                console.log(
                  info.alreadyPending
                    ? `backup ${info.manifest.backupId} is in the Archive tier; its rehydration to Cool is already under way`
                    : `backup ${info.manifest.backupId} is in the Archive tier: rehydration to Cool started (priority ${info.priority})`,
                );
              },
              onWaiting: ({ archiveStatus, elapsedMs }) => {
                if (!ctx.options.json)
                  console.error(
                    `  rehydrating: ${archiveStatus ?? 'pending'}, ${Math.round(elapsedMs / 60_000)} min so far`,
                  );
              },
            },
          })
          .catch(async (error: unknown) => {
            await publishRestoreEvent(ctx, 'tidemark.restore.failed', targetId, options.backup, {
              stage: 'restore',
              durations: { restore: Date.now() - started },
              error: errorData(error),
            });
            throw error;
          })
          .finally(() => {
            if (showProgress) bar.stop();
          });
        if (!('rehydrating' in result)) {
          await publishRestoreEvent(ctx, 'tidemark.restore.completed', targetId, result.manifest.backupId, {
            stage: 'restore',
            destination: result.destination,
            sizes: { compressed: result.bytes },
            durations: { restore: result.durationMs },
          });
        }
        if ('rehydrating' in result) {
          // Typed as given (a ${VAR} reference stays a reference), so the command is safe to copy.
          const resume = [
            'tidemark restore',
            targetId,
            '--backup',
            result.manifest.backupId,
            '--to',
            `'${options.to}'`,
            ...(options.clean ? ['--clean'] : []),
            '--wait',
          ].join(' ');
          if (ctx.options.json) {
            printJson({
              backupId: result.manifest.backupId,
              rehydrating: true,
              priority: result.priority,
              resume,
            });
            return;
          }
          console.log(
            `rehydration takes up to 15 hours (Standard) or about 1 hour (High). To restore once it is done, run:\n  ${resume}`,
          );
          return;
        }
        if (ctx.options.json) {
          printJson({
            backupId: result.manifest.backupId,
            destination: result.destination,
            bytes: result.bytes,
            durationMs: result.durationMs,
          });
          return;
        }
        console.log(
          `restored ${result.manifest.backupId} into ${result.destination}: ${formatBytes(result.bytes)} read, sha256 verified, ${(result.durationMs / 1000).toFixed(1)}s`,
        );
      },
    );
}

/** Restores are facts too; publishing them must never turn a good restore into a failed command. */
async function publishRestoreEvent<T extends 'tidemark.restore.completed' | 'tidemark.restore.failed'>(
  ctx: CliContext,
  type: T,
  targetId: string,
  backupId: string | undefined,
  data: EventDetails<T>,
): Promise<void> {
  try {
    await new EventPublisher(await ctx.bus(), 'cli').emit(type, targetId, backupId, data);
  } catch {
    if (!ctx.options.json) console.error(`tidemark: could not publish ${type} (event bus unreachable)`);
  }
}
