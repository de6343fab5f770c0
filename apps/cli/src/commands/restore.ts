import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
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
    .action(
      async (targetId: string, options: { backup?: string; at?: string; to: string; clean?: boolean }) => {
        const ctx = context();
        let at: Date | undefined;
        if (options.at) {
          at = new Date(options.at);
          if (Number.isNaN(at.getTime()))
            throw new Error(`--at: "${options.at}" is not an ISO time (e.g. 2026-11-21T02:00:00Z)`);
        }
        const showProgress = process.stderr.isTTY && !ctx.options.json;
        const bar = new SingleBar({
          format: 'restoring {backupId} [{bar}] {percentage}% {done}/{total}',
          stream: process.stderr,
          hideCursor: true,
        });
        let total = 0;
        const result = await ctx.restores
          .restore({
            targetId,
            ...(options.backup ? { backupId: options.backup } : {}),
            ...(at ? { at } : {}),
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
          })
          .finally(() => {
            if (showProgress) bar.stop();
          });
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
