import type { Command } from 'commander';
import { auditCli } from '../audit';
import type { CliContext } from '../context';
import { printJson } from '../output';

/** A pinned backup is kept whatever the retention policy says, until it is unpinned. */
export function registerPin(program: Command, context: () => CliContext): void {
  const setPinned = async (backupId: string, pinned: boolean): Promise<void> => {
    const ctx = context();
    const { catalog, manifests, config } = await ctx.storage();
    const found = await catalog.find(backupId);
    if (!found) throw new Error(`no backup ${backupId} in container ${config.storage.container}`);
    const targetId = found.manifest.target.id;
    await auditCli(ctx, pinned ? 'tidemark.audit.pinned' : 'tidemark.audit.unpinned', targetId, backupId, {});
    const updated = await manifests.update(targetId, backupId, (m) => {
      // Checked on the version being written: retention may have started deleting it since it was read.
      if (pinned && m.deletion)
        throw new Error(`backup ${backupId} is being deleted (since ${m.deletion.at}); it cannot be pinned`);
      return { ...m, pinned };
    });
    // Writing the manifest set (or cleared) the legal hold on an immutable container; this repeats it for a
    // backup that was already (un)pinned, so running the command again repairs a hold a failure left out.
    await manifests.protect(updated);
    if (ctx.options.json) printJson({ backupId, targetId: updated.target.id, pinned: updated.pinned });
    else console.log(`backup ${backupId} ${pinned ? 'pinned: retention keeps it' : 'unpinned'}`);
  };

  program
    .command('pin <backupId>')
    .description('keep a backup whatever the retention policy says')
    .action((backupId: string) => setPinned(backupId, true));

  program
    .command('unpin <backupId>')
    .description('let the retention policy decide about a pinned backup again')
    .action((backupId: string) => setPinned(backupId, false));
}
