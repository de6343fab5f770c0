import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { Command, CommanderError } from 'commander';
import { redact } from '@tidemark/redaction';
import { registerCommands } from './command-table';
import type { CliContext, GlobalOptions } from './context';

// The CLI reports for itself; the libraries' Nest loggers would otherwise write into its output.
Logger.overrideLogger(false);

const program = new Command('tidemark')
  .description(
    'Backups to Azure Blob Storage that are taken on time, proven restorable and kept as the policy says',
  )
  .option('--config <path>', 'config file (default: $TIDEMARK_CONFIG or ./tidemark.yaml)')
  .option('--json', 'machine-readable output')
  .option(
    '--token-file <path>',
    'a file holding the REST API bearer token (default: $TIDEMARK_TOKEN); used when TIDEMARK_API_URL is set',
  )
  .showHelpAfterError()
  .exitOverride();

let context: CliContext | undefined;
const globals = (): GlobalOptions => program.opts<GlobalOptions>();
/** Required on first use: the context loads the queues and the event bus, which `--help`, `up` and `api-key` never need. */
const getContext = (): CliContext => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { CliContext: Context } = require('./context') as typeof import('./context');
  return (context ??= new Context(globals()));
};

registerCommands(program, process.argv.slice(2), { globals, context: getContext });

/** Errors are one line and a non-zero exit, never a stack trace (set TIDEMARK_DEBUG=1 for one). */
async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tidemark: ${redact(message)}\n`);
    if (process.env['TIDEMARK_DEBUG']) console.error(error);
    process.exitCode = 1;
  } finally {
    await context?.close().catch(() => undefined);
  }
}

void main();
