import { InjectQueue } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Catalog } from '@tidemark/catalog';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { environment } from '@tidemark/environment';
import { backupIdTime, type Manifest } from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import { QUEUES } from '@tidemark/queues';
import type { Queue } from 'bullmq';

const JOB_STATES = [
  'waiting',
  'active',
  'delayed',
  'failed',
  'completed',
  'prioritized',
  'waiting-children',
] as const;

/** What the catalog says about one configured target at one moment. */
export interface TargetSummary {
  targetId: string;
  /** The newest verified backup, if any. */
  lastVerified: Manifest | undefined;
  /** The newest backup in any status (a failed or unfinished one counts: it was started). */
  newest: Manifest | undefined;
  /** The newest verified, failed or corrupt backup. */
  lastFinal: Manifest | undefined;
}

export interface CatalogSnapshot {
  readAt: Date;
  targets: Map<string, TargetSummary>;
}

/**
 * Derives the per-target gauges from the catalog (so they survive a Redis flush) and queue depth by state. The
 * catalog read is kept as a snapshot so the RPO watchdog judges the same listing instead of reading it again.
 */
@Injectable()
export class CatalogGauges implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(CatalogGauges.name);
  private timer: NodeJS.Timeout | undefined;
  private readonly queues: Queue[];
  private snapshot: CatalogSnapshot | undefined;

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    private readonly catalog: Catalog,
    private readonly metrics: TidemarkMetrics,
    @InjectQueue(QUEUES.schedule) schedule: Queue,
    @InjectQueue(QUEUES.dump) dump: Queue,
    @InjectQueue(QUEUES.upload) upload: Queue,
    @InjectQueue(QUEUES.verify) verify: Queue,
    @InjectQueue(QUEUES.retention) retention: Queue,
  ) {
    this.queues = [schedule, dump, upload, verify, retention];
  }

  onApplicationBootstrap(): void {
    const interval = environment().TIDEMARK_GAUGE_INTERVAL_MS;
    const tick = (): void => {
      this.refresh().catch((error: unknown) => {
        this.logger.warn({ err: String(error) }, 'could not refresh catalog gauges');
      });
    };
    tick();
    this.timer = setInterval(tick, interval);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async refresh(now = new Date()): Promise<void> {
    for (const queue of this.queues) {
      const counts = await queue.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES)
        this.metrics.queueJobs.set({ queue: queue.name, state }, counts[state] ?? 0);
    }
    await this.readCatalog(now);
  }

  /**
   * The catalog as read at most `maxAgeMs` before `now` (judged on the caller's clock), reading it again (and
   * setting the gauges from it) when the last read is older.
   */
  async catalogSnapshot(now: Date, maxAgeMs: number): Promise<CatalogSnapshot> {
    const last = this.snapshot;
    const age = last ? now.getTime() - last.readAt.getTime() : Infinity;
    if (last && age >= 0 && age < maxAgeMs) return last;
    return this.readCatalog(now);
  }

  private async readCatalog(now: Date): Promise<CatalogSnapshot> {
    const { manifests } = await this.catalog.list();
    const targets = new Map<string, TargetSummary>();
    for (const target of this.config.targets) {
      const own = manifests.filter((m) => m.target.id === target.id);
      const summary: TargetSummary = {
        targetId: target.id,
        lastVerified: latest(own.filter((m) => m.status === 'verified')),
        newest: latest(own),
        lastFinal: latest(
          own.filter((m) => m.status === 'verified' || m.status === 'failed' || m.status === 'corrupt'),
        ),
      };
      targets.set(target.id, summary);
      this.setGauges(summary, now);
    }
    this.snapshot = { readAt: now, targets };
    return this.snapshot;
  }

  private setGauges({ targetId, lastVerified, lastFinal }: TargetSummary, now: Date): void {
    if (lastVerified) {
      const at =
        new Date(lastVerified.timestamps.verifiedAt ?? backupIdTime(lastVerified.backupId)).getTime() / 1000;
      this.metrics.backupLastSuccessTimestamp.set({ target: targetId }, at);
      this.metrics.backupAge.set({ target: targetId }, backupAgeSeconds(lastVerified, now));
    }
    if (lastFinal)
      this.metrics.backupLastStatus.set({ target: targetId }, lastFinal.status === 'verified' ? 1 : 0);
  }
}

/** Age of a backup measured from its start (the point in time it captures), in seconds. */
export function backupAgeSeconds(manifest: Manifest, now: Date): number {
  return (now.getTime() - backupIdTime(manifest.backupId).getTime()) / 1000;
}

function latest(manifests: Manifest[]): Manifest | undefined {
  return manifests.reduce<Manifest | undefined>((a, b) => (a && a.backupId > b.backupId ? a : b), undefined);
}
