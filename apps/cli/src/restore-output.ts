import { SingleBar } from 'cli-progress';
import type { Manifest } from '@tidemark/manifest';
import type { RehydrateOptions, RehydrationStarted, RestoreResult } from '@tidemark/restore';
import type { CliContext } from './context';
import { formatBytes, printJson } from './output';

/** What `restore` says while it runs: the backup chosen, and a progress bar on a terminal. */
export function restoreProgress(
  ctx: CliContext,
  targetId: string,
): {
  onStart: (manifest: Manifest, size: number) => void;
  onProgress: (bytes: number) => void;
  stop: () => void;
} {
  const showProgress = process.stderr.isTTY && !ctx.options.json;
  const bar = new SingleBar({
    format: 'restoring {backupId} [{bar}] {percentage}% {done}/{total}',
    stream: process.stderr,
    hideCursor: true,
  });
  let total = 0;
  return {
    onStart: (manifest, size) => {
      total = size;
      if (!ctx.options.json)
        console.log(
          `restoring ${manifest.backupId} (${manifest.status}, ${formatBytes(size)}) of ${targetId}`,
        );
      if (showProgress)
        bar.start(size, 0, { backupId: manifest.backupId, done: formatBytes(0), total: formatBytes(size) });
    },
    onProgress: (bytes) => {
      if (showProgress) bar.update(bytes, { done: formatBytes(bytes), total: formatBytes(total) });
    },
    stop: () => {
      if (showProgress) bar.stop();
    },
  };
}

/** What `restore` says of a backup in the Archive tier: its rehydration started, and the wait for it. */
export function rehydrationReporter(ctx: CliContext): Pick<RehydrateOptions, 'onStarted' | 'onWaiting'> {
  return {
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
  };
}

export function printRehydrating(ctx: CliContext, result: RehydrationStarted, resume: string): void {
  if (ctx.options.json) {
    printJson({ backupId: result.manifest.backupId, rehydrating: true, priority: result.priority, resume });
    return;
  }
  console.log(
    `rehydration takes up to 15 hours (Standard) or about 1 hour (High). To restore once it is done, run:\n  ${resume}`,
  );
}

export function printRestored(ctx: CliContext, result: RestoreResult): void {
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
}

export function printRunRestored(ctx: CliContext, results: readonly RestoreResult[]): void {
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
    const what = r.manifest.run?.role === 'globals' ? 'roles' : `database ${r.manifest.target.database}`;
    console.log(`restored ${what} from ${r.manifest.backupId} into ${r.destination}`);
  }
}
