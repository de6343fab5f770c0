import type { Command } from 'commander';
import type { CliContext } from '../context';
import { printJson } from '../output';
import { describeEvent, eventCursor, waitForBackup } from '../wait-for-backup';

export function registerVerify(program: Command, context: () => CliContext): void {
  program
    .command('verify <backupId>')
    .description(
      'check a stored backup again (checksum and structure; --restore-test restores it into a scratch database)',
    )
    .option('--restore-test', 'also restore it into a scratch database and compare row counts')
    .option('--no-wait', 'return once the check is queued')
    .option('--timeout <seconds>', 'how long to wait', '3600')
    .action(async (backupId: string, options: { restoreTest?: boolean; wait: boolean; timeout: string }) => {
      const ctx = context();
      const { catalog, config } = await ctx.storage();
      const found = await catalog.find(backupId);
      if (!found) throw new Error(`no backup ${backupId} in container ${config.storage.container}`);
      const targetId = found.manifest.target.id;
      const from = await eventCursor(ctx);
      await (await ctx.services()).pipeline.reverify(targetId, backupId, Boolean(options.restoreTest));
      if (!options.wait) {
        console.log(`verification of ${backupId} queued`);
        return;
      }
      const final = await waitForBackup(ctx, backupId, {
        from,
        timeoutMs: Number(options.timeout) * 1000,
        onEvent: (event) => {
          if (!ctx.options.json) console.log(`  ${describeEvent(event)}`);
        },
      });
      const manifest = (await catalog.find(backupId, targetId))?.manifest;
      if (ctx.options.json) printJson(manifest?.verification ?? null);
      if (final.type !== 'tidemark.backup.verified') {
        process.exitCode = 1;
        console.error(
          `tidemark: backup ${backupId} is ${manifest?.status ?? 'not verified'}: ${final.data.error?.message ?? ''}`,
        );
      } else if (!ctx.options.json) {
        console.log(`backup ${backupId} verified`);
      }
    });
}
