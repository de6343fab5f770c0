import type { Check, Manifest } from '@tidemark/manifest';
import type { DrillAssertion } from '@tidemark/policy';
import { errorData } from '@tidemark/events';
import { TOOL_VERSION } from '@tidemark/observability';
import type { RestoreService } from '@tidemark/restore';
import { performance } from 'node:perf_hooks';
import { runAssertions } from './assertions';
import type { DrillCheck, DrillReport } from './drill-report';
import type { DrillCopy } from './scratch-copy';

/** How long a look at an archived blob waits before the next while a drill rehydrates it (Azure takes hours). */
const REHYDRATE_POLL_MS = 60_000;

export interface DrillOutcome {
  checks: Check[];
  assertions: DrillCheck[];
  phasesMs: DrillReport['phasesMs'];
  /** From the start of the restore to the last check: the achieved RTO. */
  rtoMs: number;
  tools: Record<string, string>;
  error?: { code: string; message: string };
  cleanup: DrillReport['cleanup'];
}

/**
 * One restore of `point` into `copy` exactly as `tidemark restore` does it (rehydrating, downloading and checking,
 * restoring the whole chain), then the restore test's checks and the assertions, timed per phase. The copy is
 * removed whatever happened.
 */
export async function restoreAndCheck(
  restore: RestoreService,
  copy: DrillCopy,
  point: Manifest,
  assertions: readonly DrillAssertion[],
): Promise<DrillOutcome> {
  const phasesMs = { rehydrate: 0, download: 0, restore: 0, checks: 0, cleanup: 0 };
  const outcome: DrillOutcome = {
    checks: [],
    assertions: [],
    phasesMs,
    rtoMs: 0,
    tools: { tidemark: TOOL_VERSION, node: process.version },
    cleanup: { ok: true },
  };
  const began = performance.now();
  try {
    let online = began;
    let lastByte = began;
    await restore.restore({
      targetId: point.target.id,
      backupId: point.backupId,
      to: copy.to,
      clean: true,
      rehydrate: { priority: 'High', wait: true, pollMs: REHYDRATE_POLL_MS },
      // The artifact opens once every member is readable: up to here is rehydration (and choosing).
      onStart: () => {
        online = performance.now();
        lastByte = online;
      },
      onProgress: () => {
        lastByte = performance.now();
      },
    });
    const restored = performance.now();
    // Download and restore stream together: the download ends with its last byte, the restore's tail follows.
    Object.assign(phasesMs, {
      rehydrate: online - began,
      download: lastByte - online,
      restore: restored - lastByte,
    });
    outcome.checks = await copy.checks(point);
    outcome.assertions = await runAssertions(assertions, copy, takenAt(point));
    const server = await copy.query?.('select version()').catch(() => null);
    if (typeof server === 'string') outcome.tools['server'] = server;
    phasesMs.checks = performance.now() - restored;
  } catch (error) {
    outcome.error = errorData(error);
  } finally {
    outcome.rtoMs = performance.now() - began;
    const cleaning = performance.now();
    await copy.remove().catch((error: unknown) => {
      outcome.cleanup = { ok: false, detail: errorData(error).message };
    });
    phasesMs.cleanup = performance.now() - cleaning;
  }
  for (const key of Object.keys(phasesMs) as (keyof typeof phasesMs)[])
    phasesMs[key] = Math.round(phasesMs[key]);
  return outcome;
}

/** When the backup's data was read: its dump's start (the snapshot), else when it was asked for. */
export function takenAt(manifest: Manifest): Date {
  return new Date(manifest.timestamps.dumpStartedAt ?? manifest.timestamps.requestedAt);
}
