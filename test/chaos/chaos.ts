import { SERVICE_NAMES } from '../src/support/stack';
import { ChaosEnvironment } from './environment';
import { checkInvariants, settle } from './invariants';
import type { ChaosOptions } from './options';
import { Random } from './random';
import { ChaosReport } from './report';
import { calibrate, killRounds } from './rounds';
import { runScenarios } from './scenarios';

export interface ChaosResult {
  summary: string;
  violations: string[];
  report: ChaosReport;
}

/**
 * The whole chaos run: a calibration backup, N kill rounds, each outage scenario once, then every invariant
 * checked against the system at rest. The environment is always torn down, also when a step throws.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const report = new ChaosReport();
  const random = new Random(options.seed);
  options.log(
    `chaos: seed ${options.seed}, ${options.rounds} rounds, scenarios ${options.scenarios.join(',') || 'none'}`,
  );
  const env = await ChaosEnvironment.start(options);
  // Interrupted by hand: unmount the tmpfs and stop every process and server it started before exiting.
  const interrupt = (): void => {
    void env.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const durationMs = await calibrate(env, options, report);
    const windowMs = Math.max(1000, Math.round(durationMs * 1.2));
    await killRounds(env, options, random, report, windowMs);
    await runScenarios({ env, options, random, report, windowMs });
    await settle(env, options, report);
    await checkInvariants(env, report);
  } catch (error) {
    report.violation(
      `the run broke off: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await env.stop();
  }
  return { summary: report.summary(SERVICE_NAMES), violations: report.violations, report };
}
