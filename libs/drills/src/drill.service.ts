import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { Catalog, chainOf } from '@tidemark/catalog';
import { TIDEMARK_CONFIG, TIDEMARK_ENV, type LoadedConfig } from '@tidemark/config';
import { errorData, EventPublisher } from '@tidemark/events';
import type { Manifest } from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import { policyOf, targetById, type DrillsPolicy } from '@tidemark/policy';
import { PermanentJobError } from '@tidemark/queues';
import { RestoreService } from '@tidemark/restore';
import { DrillHolds } from '@tidemark/retention';
import { DRILL_LEFTOVER_MS, drillScratchName } from './drill-names';
import { failedChecks, type DrillReport } from './drill-report';
import { DRILL_REPORTS, type DrillReportStore } from './drill-report-store';
import { restoreAndCheck, takenAt, type DrillOutcome } from './drill-run';
import { pickBackups, type PickedBackup } from './pick';
import { drillScratchFor, type DrillScratch } from './scratch-copy';

export interface DrillRequest {
  targetId: string;
  /** Drill this backup; without it the policy's `drills.pick` chooses. */
  backupId?: string | undefined;
  drillId: string;
}

/** A target without `drills:` can still be drilled on demand, with these. */
const DEFAULT_DRILLS: Omit<DrillsPolicy, 'schedule'> = { pick: ['newest'], rtoMinutes: 60, assertions: [] };

/**
 * Restore drills: restores chosen backups into a scratch copy the way `tidemark restore` does, checks them, times
 * every phase against the policy's RTO, always removes the copy, and leaves a report, an event and metrics.
 * While a drill reads a backup, retention leaves it (and its chain) alone.
 */
@Injectable()
export class DrillService implements OnApplicationBootstrap {
  private readonly logger = new Logger(DrillService.name);

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    private readonly catalog: Catalog,
    private readonly restore: RestoreService,
    @Inject(DRILL_REPORTS) private readonly reports: DrillReportStore,
    private readonly holds: DrillHolds,
    private readonly events: EventPublisher,
    private readonly metrics: TidemarkMetrics,
    @Inject(TIDEMARK_ENV) private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** At start: what drills that died left on every target's scratch. */
  async onApplicationBootstrap(): Promise<void> {
    for (const target of this.config.targets) {
      await this.sweep(target.id, () => drillScratchFor(this.config, target.id, this.env));
    }
  }

  /** One report per backup drilled; a drill already reported (a retried job) is not run again. */
  async run(request: DrillRequest): Promise<DrillReport[]> {
    const { targetId } = request;
    const settings = this.settingsOf(targetId);
    const picked = await this.pick(request, settings);
    const done: DrillReport[] = [];
    for (const entry of picked) {
      const drillId = picked.length === 1 ? request.drillId : `${request.drillId}-${entry.picks.join('-')}`;
      const existing = await this.reports.find(targetId, drillId);
      done.push(existing ?? (await this.drill(drillId, entry, settings)));
    }
    return done;
  }

  private settingsOf(targetId: string): Omit<DrillsPolicy, 'schedule'> {
    return policyOf(this.config, targetById(this.config, targetId)).drills ?? DEFAULT_DRILLS;
  }

  private async pick(
    request: DrillRequest,
    settings: Omit<DrillsPolicy, 'schedule'>,
  ): Promise<PickedBackup[]> {
    if (request.backupId) {
      const manifest = await this.restore
        .choose(request.targetId, request.backupId)
        .catch((error: unknown) => {
          throw new PermanentJobError('not-found', errorData(error).message);
        });
      return [{ manifest, picks: [] }];
    }
    const picked = pickBackups((await this.catalog.list(request.targetId)).manifests, settings.pick);
    if (picked.length === 0)
      throw new PermanentJobError('not-found', `no verified backup of ${request.targetId} to drill`);
    return picked;
  }

  private async drill(
    drillId: string,
    { manifest: point, picks }: PickedBackup,
    settings: Omit<DrillsPolicy, 'schedule'>,
  ): Promise<DrillReport> {
    const targetId = point.target.id;
    const startedAt = new Date();
    const scratch = drillScratchFor(this.config, targetId, this.env);
    const members = point.chain ? await chainOf(this.catalog, point) : [point];
    const held = [...new Set([point.backupId, ...members.map((m) => m.backupId)])];
    // Marked before the first byte is read, so a retention run that starts meanwhile already sees it.
    await this.holds.hold(targetId, held, drillId, DRILL_LEFTOVER_MS);
    let outcome: DrillOutcome;
    try {
      await this.sweep(targetId, () => scratch);
      const copy = scratch.copy(drillScratchName(targetId, startedAt));
      outcome = await restoreAndCheck(this.restore, copy, point, settings.assertions);
    } finally {
      await this.holds.release(targetId, held).catch((error: unknown) => {
        this.logger.warn({ targetId, drillId, error: errorData(error) }, 'could not clear the drill marks');
      });
    }
    const report = this.reportOf({ drillId, point, members, picks, scratch, startedAt, outcome, settings });
    return this.publish(report);
  }

  private reportOf(input: {
    drillId: string;
    point: Manifest;
    members: readonly Manifest[];
    picks: readonly string[];
    scratch: DrillScratch;
    startedAt: Date;
    outcome: DrillOutcome;
    settings: Omit<DrillsPolicy, 'schedule'>;
  }): DrillReport {
    const { point, outcome, startedAt } = input;
    const targetSeconds = input.settings.rtoMinutes * 60;
    const seconds = Math.round(outcome.rtoMs) / 1000;
    const rto = { seconds, targetSeconds, breached: seconds > targetSeconds };
    const checks = outcome.checks.map((c) => ({
      name: c.name,
      ok: c.ok,
      ...(c.expected !== undefined && { expected: String(c.expected) }),
      ...(c.actual !== undefined && { actual: String(c.actual) }),
      ...(c.detail !== undefined && { detail: c.detail }),
    }));
    const failed =
      outcome.error !== undefined || failedChecks({ checks, assertions: outcome.assertions, rto }).length > 0;
    return {
      v: 1,
      drillId: input.drillId,
      targetId: point.target.id,
      picks: input.picks.length > 0 ? [...input.picks] : ['backup'],
      backup: {
        backupId: point.backupId,
        takenAt: takenAt(point).toISOString(),
        ageSeconds: Math.max(0, Math.round((startedAt.getTime() - takenAt(point).getTime()) / 1000)),
        tier: point.locations.remote?.tier ?? null,
        members: Math.max(1, input.members.length),
        rehydrated: input.members.some((m) => m.locations.remote?.tier === 'Archive'),
      },
      scratch: input.scratch.description,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      checks,
      assertions: outcome.assertions,
      phasesMs: outcome.phasesMs,
      rto,
      tools: outcome.tools,
      result: failed ? 'failed' : 'passed',
      ...(outcome.error && { error: outcome.error }),
      cleanup: outcome.cleanup,
    };
  }

  /** The report first (the event names it), then the event and the gauges. */
  private async publish(report: DrillReport): Promise<DrillReport> {
    const name = await this.reports.save(report);
    const { targetId, backup, rto, phasesMs } = report;
    const details = {
      stage: 'drill' as const,
      drillId: report.drillId,
      report: name,
      tier: backup.tier,
      rehydrated: backup.rehydrated,
      rto,
      durations: {
        rehydrate: phasesMs.rehydrate,
        download: phasesMs.download,
        restore: phasesMs.restore,
        checks: phasesMs.checks,
      },
    };
    this.metrics.drillRto.set({ target: targetId }, rto.seconds);
    this.metrics.drillRtoTarget.set({ target: targetId }, rto.targetSeconds);
    this.metrics.drillResult.set({ target: targetId }, report.result === 'passed' ? 1 : 0);
    if (report.result === 'passed') {
      this.metrics.drillLastSuccessTimestamp.set({ target: targetId }, Date.parse(report.finishedAt) / 1000);
      await this.events.emit('tidemark.drill.completed', targetId, backup.backupId, details);
      this.logger.log({ targetId, drillId: report.drillId, rto }, 'restore drill passed');
      return report;
    }
    const failed = failedChecks(report).map(({ ok: _ok, ...check }) => check);
    const critical = rto.breached || report.assertions.some((a) => !a.ok);
    await this.events.emit(
      'tidemark.drill.failed',
      targetId,
      backup.backupId,
      { ...details, failed, ...(report.error && { error: report.error }) },
      critical ? 'critical' : undefined,
    );
    this.logger.warn(
      { targetId, drillId: report.drillId, failed, error: report.error },
      'restore drill failed',
    );
    return report;
  }

  private async sweep(targetId: string, scratchOf: () => DrillScratch): Promise<void> {
    try {
      const dropped = await scratchOf().sweep(new Date());
      for (const name of dropped)
        this.logger.warn({ targetId, scratch: name }, 'dropped a scratch copy left by a drill that died');
    } catch (error) {
      this.logger.warn({ targetId, error: errorData(error) }, 'could not look for leftovers of dead drills');
    }
  }
}
