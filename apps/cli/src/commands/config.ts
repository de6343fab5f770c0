import { checkConfig, type ConfigProblem } from '@tidemark/config';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { printJson } from '../output';

/** `config check`: the whole config and the environment it runs in, checked without Redis or Blob Storage. */
export function registerConfig(program: Command, context: () => CliContext): void {
  const config = program.command('config').description('check the configuration');
  config
    .command('check')
    .description(
      'every problem of the config file and of the ${VAR}s the services need, one per line; exit 1 if any',
    )
    .action(() => {
      const ctx = context();
      const {
        problems,
        warnings,
        config: loaded,
      } = checkConfig({
        ...(ctx.options.config ? { path: ctx.options.config } : {}),
        env: ctx.env,
      });
      const targets = loaded?.targets.length ?? 0;
      const policies = Object.keys(loaded?.policies ?? {}).length;
      if (problems.length > 0) process.exitCode = 1;
      if (ctx.options.json) {
        printJson({
          ok: problems.length === 0,
          source: loaded?.source ?? null,
          targets,
          policies,
          problems,
          warnings,
        });
        return;
      }
      // Warnings do not fail the check: the config works, it just may not do what was meant.
      for (const { path, message } of warnings) console.log(`warning: ${path}: ${message}`);
      if (problems.length > 0) {
        for (const problem of problems) console.log(problemLine(problem));
      } else {
        console.log(`ok: ${plural(targets, 'target')}, ${plural(policies, 'policy', 'policies')}`);
      }
    });
}

function problemLine({ path, message, services }: ConfigProblem): string {
  const where = path === '' ? '' : `${path}: `;
  const who = services.length > 0 ? ` (needed by ${services.join(', ')})` : '';
  return `${where}${message}${who}`;
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
