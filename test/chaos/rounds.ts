import { SERVICE_NAMES, type ServiceName } from '../src/support/stack';
import { sleep, type ChaosEnvironment } from './environment';
import type { ChaosOptions } from './options';
import type { Random } from './random';
import type { ChaosReport } from './report';

const SIGNALS = ['SIGKILL', 'SIGTERM'] as const;

/**
 * One backup without faults: proves the stack works before anything is broken, and measures how long a backup
 * takes, so the kill moments of the rounds fall anywhere from the trigger to the end of verification.
 */
export async function calibrate(
  env: ChaosEnvironment,
  options: ChaosOptions,
  report: ChaosReport,
): Promise<number> {
  const started = Date.now();
  const backupId = await env.trigger(new Set(report.backups.keys()));
  const status = await env.waitFinal(backupId, options.backupTimeoutMs);
  report.backups.set(backupId, status);
  if (status !== 'verified')
    report.violation(`calibration backup ${backupId} ended ${status ?? 'stuck'} without any fault`);
  const durationMs = Date.now() - started;
  options.log(`chaos: calibration backup ${backupId} ${status ?? 'stuck'} in ${durationMs} ms`);
  return durationMs;
}

/** Restarts a service that was signalled; a service that cannot come back is a violation (and ends the run). */
export async function killAndRestart(
  env: ChaosEnvironment,
  options: ChaosOptions,
  report: ChaosReport,
  service: ServiceName,
  signal: NodeJS.Signals,
  label: string,
): Promise<void> {
  const inTime = await env.stack.signalService(service, signal, options.sigtermGraceMs);
  report.kill(service, signal);
  if (!inTime)
    report.violation(
      `${label}: ${service} did not exit within ${options.sigtermGraceMs / 1000}s of ${signal}`,
    );
  await env.stack.startService(service);
  await env.stack.waitReady(service);
}

/**
 * N rounds: trigger a backup with restore test, signal a random service (SIGKILL or SIGTERM) at a random moment,
 * restart it, and wait for the backup to end verified or failed.
 */
export async function killRounds(
  env: ChaosEnvironment,
  options: ChaosOptions,
  random: Random,
  report: ChaosReport,
  windowMs: number,
): Promise<void> {
  for (let round = 1; round <= options.rounds; round++) {
    const service = random.pick(SERVICE_NAMES);
    const signal = random.pick(SIGNALS);
    const delayMs = random.below(windowMs);
    const backupId = await env.trigger(new Set(report.backups.keys()));
    await sleep(delayMs);
    await killAndRestart(env, options, report, service, signal, `round ${round} (${backupId})`);
    const status = await env.waitFinal(backupId, options.backupTimeoutMs);
    report.backups.set(backupId, status);
    report.rounds = round;
    options.log(
      `chaos: round ${round}/${options.rounds} ${signal} ${service} at +${delayMs} ms: ${backupId} ${status ?? 'STUCK'}`,
    );
    if (status === undefined)
      report.violation(
        `round ${round}: backup ${backupId} neither verified nor failed ${options.backupTimeoutMs / 1000}s after ${signal} of ${service} at +${delayMs} ms`,
      );
  }
}
