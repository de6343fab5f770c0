import { parseArgs } from 'node:util';

/** How long each fault lasts and how long the suite waits; `quick` shortens every outage for the e2e suite. */
export interface ChaosOptions {
  rounds: number;
  seed: number;
  /** Which outage scenarios run after the rounds (all by default). */
  scenarios: readonly string[];
  storageOutageMs: number;
  busOutageMs: number;
  diskFullMs: number;
  /** The longest one backup may take to end verified or failed before it counts as stuck. */
  backupTimeoutMs: number;
  /** How long a service may take to exit after SIGTERM before it counts as a violation. */
  sigtermGraceMs: number;
  /** The source database's size in rows (about 330 bytes each, half of it compressible). */
  rows: number;
  tmpfsBytes: number;
  /** TIDEMARK_RETRY_DELAY_MS of the services: backoffs long enough to outlast the outages, as in production. */
  retryDelayMs: number;
  /** Where every service's output is kept (each incarnation appended), for looking into a violation. */
  logsDir?: string;
  log: (line: string) => void;
}

export const SCENARIO_NAMES = [
  'redis-flush',
  'storage-outage',
  'bus-outage',
  'db-restart',
  'disk-full',
] as const;

export function defaultOptions(quick = false): ChaosOptions {
  return {
    rounds: quick ? 3 : 100,
    seed: Date.now() % 2 ** 31,
    scenarios: SCENARIO_NAMES,
    storageOutageMs: quick ? 8_000 : 60_000,
    busOutageMs: quick ? 15_000 : 300_000,
    diskFullMs: quick ? 5_000 : 20_000,
    // A SIGKILLed worker's job is taken up again only once its lock (30 s) lapses and a stalled check (every 30 s)
    // sees it: up to a minute before the retry even starts, on a loaded machine more.
    backupTimeoutMs: quick ? 150_000 : 420_000,
    sigtermGraceMs: 60_000,
    rows: quick ? 40_000 : 100_000,
    // Room for the backups of the minute or two a killed retention may hold its lock (local rotation waits).
    tmpfsBytes: (quick ? 256 : 1024) * 1024 * 1024,
    retryDelayMs: quick ? 1000 : 2000,
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

const USAGE = `usage: node -r ./tools/register.js test/chaos/run.ts [--rounds N] [--seed N] [--quick]
  [--scenarios a,b|none] [--storage-outage-s S] [--bus-outage-s S] [--disk-full-s S] [--backup-timeout-s S] [--rows N] [--retry-delay-ms N] [--logs DIR]
scenarios: ${SCENARIO_NAMES.join(', ')}`;

/** Command-line flags over the defaults; a bad flag is one line naming it. */
export function parseOptions(argv: string[]): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rounds: { type: 'string' },
      seed: { type: 'string' },
      quick: { type: 'boolean' },
      scenarios: { type: 'string' },
      'storage-outage-s': { type: 'string' },
      'bus-outage-s': { type: 'string' },
      'disk-full-s': { type: 'string' },
      'backup-timeout-s': { type: 'string' },
      rows: { type: 'string' },
      'retry-delay-ms': { type: 'string' },
      logs: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) throw new UsageError(USAGE);
  const options = defaultOptions(values.quick);
  const number = (flag: string, value: string | undefined, scale = 1): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0)
      throw new UsageError(`--${flag}: "${value}" is not a non-negative number`);
    return n * scale;
  };
  const scenarios = values.scenarios === 'none' ? [] : values.scenarios?.split(',');
  for (const name of scenarios ?? [])
    if (!(SCENARIO_NAMES as readonly string[]).includes(name))
      throw new UsageError(`--scenarios: unknown scenario "${name}" (known: ${SCENARIO_NAMES.join(', ')})`);
  return {
    ...options,
    rounds: number('rounds', values.rounds) ?? options.rounds,
    seed: number('seed', values.seed) ?? options.seed,
    scenarios: scenarios ?? options.scenarios,
    storageOutageMs: number('storage-outage-s', values['storage-outage-s'], 1000) ?? options.storageOutageMs,
    busOutageMs: number('bus-outage-s', values['bus-outage-s'], 1000) ?? options.busOutageMs,
    diskFullMs: number('disk-full-s', values['disk-full-s'], 1000) ?? options.diskFullMs,
    backupTimeoutMs: number('backup-timeout-s', values['backup-timeout-s'], 1000) ?? options.backupTimeoutMs,
    rows: number('rows', values.rows) ?? options.rows,
    retryDelayMs: number('retry-delay-ms', values['retry-delay-ms']) ?? options.retryDelayMs,
    ...(values.logs !== undefined && { logsDir: values.logs }),
  };
}

export class UsageError extends Error {}
