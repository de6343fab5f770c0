import { execFile } from 'node:child_process';
import { rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sleep, TARGET, type ChaosEnvironment } from './environment';
import type { ChaosOptions } from './options';
import type { Random } from './random';
import type { ChaosReport } from './report';

const run = promisify(execFile);

interface ScenarioContext {
  env: ChaosEnvironment;
  options: ChaosOptions;
  random: Random;
  report: ChaosReport;
  windowMs: number;
}

/** A scenario triggers its backup(s), injects its fault and recovers; it returns the backups it started. */
type Scenario = (context: ScenarioContext) => Promise<string[]>;

/** Waits until the backup has a part file on the local tier: its dump is running and parts go to the uploader. */
async function untilFirstPart(
  env: ChaosEnvironment,
  backupId: string,
  timeoutMs = 120_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const local = (await env.localBackups()).find((b) => b.backupId === backupId);
    if (local?.files.some((f) => f.includes('.part-'))) return true;
    await sleep(50);
  }
  return false;
}

function known(context: ScenarioContext): Set<string> {
  return new Set(context.report.backups.keys());
}

/** Redis loses everything (queues, locks, the outbox) while a backup is in flight: its dump is writing parts. */
const redisFlush: Scenario = async (context) => {
  const { env, random } = context;
  const backupId = await env.trigger(known(context));
  if (!(await untilFirstPart(env, backupId)))
    context.report.violation(`redis-flush: ${backupId} never wrote a part`);
  await sleep(random.below(500));
  context.report.flushedAt = Date.now();
  await env.redis.flushAll();
  return [backupId];
};

/** Blob Storage goes away while parts are being uploaded, for `storageOutageMs`. */
const storageOutage: Scenario = async (context) => {
  const { env, options } = context;
  const backupId = await env.trigger(known(context));
  if (!(await untilFirstPart(env, backupId)))
    context.report.violation(`storage-outage: ${backupId} never wrote a part`);
  await env.stack.azurite.stop();
  await sleep(options.storageOutageMs);
  await env.stack.azurite.start();
  return [backupId];
};

/** Backups taken while the event bus is down: enough to prove work goes on, few enough for the local tier. */
const BACKUPS_DURING_BUS_OUTAGE = 3;

/**
 * The event bus (the Service Bus broker) is down for `busOutageMs` while backups go on, one at each third of the
 * outage. (Local rotation follows backup.verified events, so the local tier only empties once the bus is back.)
 */
const busOutage: Scenario = async (context) => {
  const { env, options, report } = context;
  const started: string[] = [];
  await env.broker.stop();
  const begin = Date.now();
  try {
    for (let n = 0; n < BACKUPS_DURING_BUS_OUTAGE; n++) {
      await sleep(Math.max(0, begin + (n * options.busOutageMs) / BACKUPS_DURING_BUS_OUTAGE - Date.now()));
      const backupId = await env.trigger(new Set([...known(context), ...started]));
      started.push(backupId);
      const status = await env.waitFinal(backupId, Math.max(options.backupTimeoutMs, options.busOutageMs));
      if (status !== 'verified')
        report.violation(`bus-outage: ${backupId} ended ${status ?? 'stuck'} while the bus was down`);
    }
    await sleep(Math.max(0, begin + options.busOutageMs - Date.now()));
  } finally {
    await env.broker.start();
  }
  return started;
};

/**
 * Runs `inject` while a dump is surely streaming: the dumper runs with a pg_dump throttled to 1 MiB/s for the
 * scenario (the chaos database dumps in about a second otherwise), then gets the real one back.
 */
async function duringSlowDump(
  context: ScenarioContext,
  name: string,
  inject: (backupId: string) => Promise<void>,
): Promise<string[]> {
  const { env } = context;
  await env.saveLogs('dumper');
  await env.stack.restartService('dumper', { TIDEMARK_PG_BIN: await env.slowPgBin(1024 * 1024) });
  try {
    const backupId = await env.trigger(known(context));
    if (!(await untilFirstPart(env, backupId)))
      context.report.violation(`${name}: ${backupId} never wrote a part`);
    await inject(backupId);
    return [backupId];
  } finally {
    await env.saveLogs('dumper');
    await env.stack.restartService('dumper');
  }
}

/** The database server restarts (fast shutdown: every session is cut) while pg_dump is streaming. */
const dbRestart: Scenario = (context) =>
  duringSlowDump(context, 'db-restart', async () => {
    await context.env.postgres.restart();
  });

/** The local tier fills up while the dump writes its parts; the space comes back after `diskFullMs`. */
const diskFull: Scenario = async (context) => {
  const { env, options, report } = context;
  if (!env.tmpfs) {
    report.scenarios.push({ name: 'disk-full', outcome: 'skipped (no tmpfs)' });
    return [];
  }
  return duringSlowDump(context, 'disk-full', async () => {
    const filler = join(env.localDir, '.chaos-filler');
    const { bavail, bsize } = await statfs(env.localDir);
    // Leave less than one part: the dump meets ENOSPC within its next part.
    await run('fallocate', ['-l', String(Math.max(0, bavail * bsize - 256 * 1024)), filler]).catch(() =>
      run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M']).catch(() => undefined),
    );
    await sleep(options.diskFullMs);
    await rm(filler, { force: true });
  });
};

export const SCENARIOS: Record<string, Scenario> = {
  'redis-flush': redisFlush,
  'storage-outage': storageOutage,
  'bus-outage': busOutage,
  'db-restart': dbRestart,
  'disk-full': diskFull,
};

/** Runs each chosen scenario once and waits for its backups to end; a backup that does not is stuck. */
export async function runScenarios(context: ScenarioContext): Promise<void> {
  const { env, options, report } = context;
  for (const name of options.scenarios) {
    const scenario = SCENARIOS[name];
    if (!scenario) continue;
    const started = Date.now();
    const backups = await scenario(context);
    const outcomes: string[] = [];
    for (const backupId of backups) {
      const status = await env.waitFinal(backupId, options.backupTimeoutMs);
      report.backups.set(backupId, status);
      const failure = status === 'failed' ? (await env.remoteManifest(backupId))?.failure : undefined;
      outcomes.push(failure ? `failed(${failure.stage}/${failure.code})` : (status ?? 'stuck'));
      if (status === undefined)
        report.violation(
          `${name}: backup ${TARGET}/${backupId} neither verified nor failed ${options.backupTimeoutMs / 1000}s after the fault`,
        );
    }
    if (backups.length > 0) report.scenarios.push({ name, outcome: outcomes.join('+') });
    options.log(`chaos: scenario ${name}: ${outcomes.join(', ') || 'skipped'} in ${Date.now() - started} ms`);
  }
}
