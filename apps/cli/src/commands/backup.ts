import { targetById } from '@tidemark/policy';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { printJson } from '../output';
import { describeEvent, eventCursor, waitForBackup } from '../wait-for-backup';

export function registerBackup(program: Command, context: () => CliContext): void {
  program
    .command('backup <target>')
    .description('trigger a backup now; with --wait, exit 0 only when it is verified')
    .option('--wait', 'wait until the backup is verified (exit 1 if it fails or is corrupt)')
    .option('--timeout <seconds>', 'how long --wait waits', '3600')
    .action(async (targetId: string, options: { wait?: boolean; timeout: string }) => {
      const ctx = context();
      targetById(ctx.config, targetId);
      const from = options.wait ? await eventCursor(ctx) : '$';
      const pipeline = await ctx.pipeline();
      const result = await pipeline.request(targetId, 'manual');
      if (!ctx.options.json) {
        console.log(
          result.coalesced
            ? `a backup of ${targetId} is already running: ${result.backupId} (this request joined it)`
            : `backup ${result.backupId} of ${targetId} started`,
        );
      }
      if (!options.wait) {
        if (ctx.options.json) printJson(result);
        return;
      }
      const final = await waitForBackup(ctx, result.backupId, {
        from,
        timeoutMs: Number(options.timeout) * 1000,
        onEvent: (event) => {
          if (!ctx.options.json) console.log(`  ${describeEvent(event)}`);
        },
      });
      const manifest = (await ctx.catalog.find(result.backupId, targetId))?.manifest;
      if (ctx.options.json) printJson({ ...result, status: manifest?.status ?? final.type, manifest });
      if (final.type !== 'tidemark.backup.verified') {
        process.exitCode = 1;
        if (!ctx.options.json)
          console.error(
            `tidemark: backup ${result.backupId} ${final.type.replace('tidemark.backup.', '')}: ${final.data.error?.message ?? ''}`,
          );
      } else if (!ctx.options.json) {
        console.log(`backup ${result.backupId} verified`);
      }
    });
}
