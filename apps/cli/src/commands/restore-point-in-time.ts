import { describeRecoveryTarget, type PointInTimeResult } from '@tidemark/restore';
import { isLsn, parseLsn, type RecoveryTarget } from '@tidemark/wal';
import { redact } from '@tidemark/events';
import { auditCli } from '../audit';
import type { CliContext } from '../context';
import { formatBytes, printJson } from '../output';
import { printRehydrating, rehydrationReporter, restoreProgress } from '../restore-output';

/** The restore flags a point-in-time restore reads (commander's strings, unchecked). */
export interface PointInTimeFlags {
  backup?: string;
  at?: string;
  lsn?: string;
  latest?: boolean;
  start?: boolean;
  port?: string;
  to: string;
  clean?: boolean;
  database?: string;
  allDatabases?: boolean;
  jobs?: string;
  priority: string;
  wait?: boolean;
}

/** The flags only a target with a WAL archive understands, as typed, for the error on any other target. */
export function pointInTimeOnlyFlags(flags: PointInTimeFlags): string[] {
  return [
    ...(flags.lsn === undefined ? [] : ['--lsn']),
    ...(flags.latest ? ['--latest'] : []),
    ...(flags.start ? ['--start'] : []),
    ...(flags.port === undefined ? [] : ['--port']),
  ];
}

/**
 * The recovery target the flags name: `--at`, `--lsn` or `--latest` (one at most); `--backup` alone recovers to
 * that backup's end; nothing at all means the latest archived WAL. Each bad flag is one clear error.
 */
export function parseRecoveryTarget(flags: PointInTimeFlags): RecoveryTarget {
  const named = [
    ...(flags.at === undefined ? [] : ['--at']),
    ...(flags.lsn === undefined ? [] : ['--lsn']),
    ...(flags.latest ? ['--latest'] : []),
  ];
  if (named.length > 1)
    throw new Error(
      `${named.join(' and ')}: name one recovery target (a time, a WAL position or the latest)`,
    );
  if (flags.at !== undefined) {
    const at = new Date(flags.at);
    if (Number.isNaN(at.getTime()) || !/^\d{4}-\d\d-\d\d/.test(flags.at))
      throw new Error(`--at: "${flags.at}" is not an ISO time (e.g. 2026-11-21T02:00:00Z)`);
    return { type: 'time', at };
  }
  if (flags.lsn !== undefined) {
    if (!isLsn(flags.lsn))
      throw new Error(`--lsn: "${flags.lsn}" is not a WAL position (X/Y in hex, e.g. 0/16B3748)`);
    return { type: 'lsn', lsn: parseLsn(flags.lsn) };
  }
  if (flags.latest || flags.backup === undefined) return { type: 'latest' };
  return { type: 'immediate' };
}

/** `--start --port N`: both or neither, N a port. */
export function parseStart(flags: PointInTimeFlags): { port: number } | undefined {
  if (!flags.start && flags.port === undefined) return undefined;
  if (!flags.start) throw new Error('--port: only with --start (the port the restored server listens on)');
  if (flags.port === undefined) throw new Error('--start: name the port with --port <n>');
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`--port: "${flags.port}" is not a port number from 1 to 65535`);
  return { port };
}

/** Flags of logical restores that mean nothing to a base backup of a whole cluster. */
function refuseLogicalFlags(flags: PointInTimeFlags): void {
  const given = [
    ...(flags.database === undefined ? [] : ['--database']),
    ...(flags.allDatabases ? ['--all-databases'] : []),
    ...(flags.jobs === undefined ? [] : ['--jobs']),
  ];
  if (given.length > 0)
    throw new Error(
      `${given.join(', ')}: a point-in-time restore brings back the whole cluster into one data directory`,
    );
}

/** A target with a WAL archive: its base backup rolled forward to the named point, optionally started. */
export async function restoreToPoint(
  ctx: CliContext,
  targetId: string,
  flags: PointInTimeFlags,
): Promise<void> {
  refuseLogicalFlags(flags);
  const target = parseRecoveryTarget(flags);
  const start = parseStart(flags);
  const { pointInTime } = await ctx.storage();
  await auditCli(ctx, 'tidemark.audit.restore_requested', targetId, flags.backup, {
    destination: redact(flags.to),
    pointInTime: describeRecoveryTarget(target),
  });
  const progress = restoreProgress(ctx, targetId);
  const result = await pointInTime
    .restore({
      targetId,
      target,
      ...(flags.backup ? { backupId: flags.backup } : {}),
      to: flags.to,
      clean: Boolean(flags.clean),
      ...(start ? { start } : {}),
      onPlanned: (plan, manifest, size) => {
        if (!ctx.options.json)
          console.log(
            `recovering to ${describeRecoveryTarget(target)} from base backup ${manifest.backupId} and ${String(plan.files.length)} WAL file(s) (restorable from ${plan.reach.from.toISOString()} to ${plan.reach.to.toISOString()})`,
          );
        progress.onStart(manifest, size);
      },
      onProgress: progress.onProgress,
      rehydrate: {
        priority: flags.priority === 'High' ? 'High' : 'Standard',
        wait: Boolean(flags.wait),
        pollMs: Number(ctx.env['TIDEMARK_REHYDRATE_POLL_MS'] ?? 60_000),
        ...rehydrationReporter(ctx),
      },
    })
    .finally(progress.stop);
  if ('rehydrating' in result) {
    printRehydrating(ctx, result, resumeCommand(targetId, flags));
    return;
  }
  printRecovered(ctx, result);
}

/** The same restore once the rehydration is done, typed as given so it is safe to copy. */
function resumeCommand(targetId: string, flags: PointInTimeFlags): string {
  const quoted = (value: string) => `'${value}'`;
  return [
    'tidemark restore',
    targetId,
    ...(flags.backup ? ['--backup', flags.backup] : []),
    ...(flags.at === undefined ? [] : ['--at', quoted(flags.at)]),
    ...(flags.lsn === undefined ? [] : ['--lsn', flags.lsn]),
    ...(flags.latest ? ['--latest'] : []),
    '--to',
    quoted(flags.to),
    ...(flags.clean ? ['--clean'] : []),
    ...(flags.start ? ['--start', '--port', flags.port ?? ''] : []),
    '--wait',
  ].join(' ');
}

function printRecovered(ctx: CliContext, result: PointInTimeResult): void {
  const reached = result.reachedAt === undefined ? undefined : (result.reachedAt?.toISOString() ?? null);
  if (ctx.options.json) {
    printJson({
      backupId: result.manifest.backupId,
      destination: result.destination,
      target: describeRecoveryTarget(result.plan.target),
      walFiles: result.walFiles,
      bytes: result.bytes,
      durationMs: result.durationMs,
      ...(reached === undefined ? {} : { reachedAt: reached, port: result.port }),
    });
    return;
  }
  console.log(
    `restored base backup ${result.manifest.backupId} and ${String(result.walFiles)} WAL file(s) into ${result.destination}: ${formatBytes(result.bytes)} read, sha256 verified, ${(result.durationMs / 1000).toFixed(1)}s`,
  );
  if (reached === undefined)
    console.log(
      `recovery to ${describeRecoveryTarget(result.plan.target)} runs when a server is started on ${result.destination}`,
    );
  else
    console.log(
      `started on port ${String(result.port)}; recovery ended, last transaction replayed at ${reached ?? '(none replayed)'}`,
    );
}
