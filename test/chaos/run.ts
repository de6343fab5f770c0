import { runChaos } from './chaos';
import { parseOptions, UsageError } from './options';

/**
 * `node -r ./tools/register.js test/chaos/run.ts --rounds 100`: the chaos suite by hand (see README, Benchmarks).
 * Prints one summary line on stdout, each violation on stderr, and exits 1 on any violation.
 */
async function main(): Promise<number> {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof UsageError && process.argv.includes('--help') ? 0 : 2;
  }
  const { summary, violations } = await runChaos(options);
  for (const violation of violations) process.stderr.write(`violation: ${violation}\n`);
  process.stdout.write(`${summary}\n`);
  return violations.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`chaos: ${String(error)}\n`);
    process.exit(2);
  },
);
