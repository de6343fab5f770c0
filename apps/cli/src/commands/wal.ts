import { archiveCommand, archiveCommandSettings, isArchived } from '@tidemark/archiving';
import { loadConfig } from '@tidemark/config';
import { targetById } from '@tidemark/policy';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { printJson } from '../output';

/** `wal archive-command <target>`: the postgresql.conf lines of the classic route, from the config alone. */
export function registerWal(program: Command, context: () => CliContext): void {
  const wal = program.command('wal').description('continuous WAL archiving of physical PostgreSQL targets');
  wal
    .command('archive-command <target>')
    .description(
      "the postgresql.conf lines that copy WAL into the target's spool (pitr.route: archive-command)",
    )
    .action((targetId: string) => {
      const ctx = context();
      const config = loadConfig({
        ...(ctx.options.config ? { path: ctx.options.config } : {}),
        env: ctx.env,
      });
      const target = targetById(config, targetId);
      if (!isArchived(target))
        throw new Error(
          `target ${targetId} is not a physical PostgreSQL target (method: physical): it has no WAL archive`,
        );
      const pitr = (target['pitr'] ?? {}) as { route?: string; spool?: string };
      if (pitr.route !== 'archive-command' || pitr.spool === undefined)
        throw new Error(
          `target ${targetId} streams WAL through a replication slot; set pitr: { route: archive-command, spool: <directory> } to use archive_command`,
        );
      const settings = archiveCommandSettings(pitr.spool);
      if (ctx.options.json)
        printJson({ targetId, spool: pitr.spool, archiveCommand: archiveCommand(pitr.spool), settings });
      else for (const line of settings) console.log(line);
    });
}
