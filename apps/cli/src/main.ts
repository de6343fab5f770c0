import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { Command, CommanderError } from 'commander';
import { redact } from '@tidemark/events';
import { registerApiKey } from './commands/api-key';
import { registerBackup } from './commands/backup';
import { registerCatalog } from './commands/catalog';
import { registerConfig } from './commands/config';
import { registerEvents } from './commands/events';
import { registerPin } from './commands/pin';
import { registerRestore } from './commands/restore';
import { registerRetention } from './commands/retention';
import { registerUp } from './commands/up';
import { registerVerify } from './commands/verify';
import { registerWal } from './commands/wal';
import { CliContext, type GlobalOptions } from './context';

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
const getContext = (): CliContext => (context ??= new CliContext(globals()));

registerUp(program, globals);
registerCatalog(program, getContext);
registerConfig(program, getContext);
registerBackup(program, getContext);
registerVerify(program, getContext);
registerRestore(program, getContext);
registerRetention(program, getContext);
registerPin(program, getContext);
registerEvents(program, getContext);
registerWal(program, getContext);
registerApiKey(program);

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
