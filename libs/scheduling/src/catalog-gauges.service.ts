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
import { backupIdTime, type Manifest } from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
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

/** Derives the per-target gauges from the catalog (so they survive a Redis flush) and queue depth by state. */
@Injectable()
export class CatalogGauges implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(CatalogGauges.name);
  private timer: NodeJS.Timeout | undefined;
  private readonly queues: Queue[];

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    private readonly catalog: Catalog,
    private readonly metrics: TidemarkMetrics,
    @InjectQueue('schedule') schedule: Queue,
    @InjectQueue('dump') dump: Queue,
    @InjectQueue('upload') upload: Queue,
    @InjectQueue('verify') verify: Queue,
    @InjectQueue('retention') retention: Queue,
  ) {
    this.queues = [schedule, dump, upload, verify, retention];
  }

  onApplicationBootstrap(): void {
    const interval = Number(process.env['TIDEMARK_GAUGE_INTERVAL_MS'] ?? 30_000);
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
    const { manifests } = await this.catalog.list();
    for (const target of this.config.targets) {
      const own = manifests.filter((m) => m.target.id === target.id);
      const lastVerified = latest(own.filter((m) => m.status === 'verified'));
      const lastFinal = latest(
        own.filter((m) => m.status === 'verified' || m.status === 'failed' || m.status === 'corrupt'),
      );
      if (lastVerified) {
        const at =
          new Date(lastVerified.timestamps.verifiedAt ?? backupIdTime(lastVerified.backupId)).getTime() /
          1000;
        this.metrics.backupLastSuccessTimestamp.set({ target: target.id }, at);
        this.metrics.backupAge.set(
          { target: target.id },
          now.getTime() / 1000 - backupIdTime(lastVerified.backupId).getTime() / 1000,
        );
      }
      if (lastFinal)
        this.metrics.backupLastStatus.set({ target: target.id }, lastFinal.status === 'verified' ? 1 : 0);
    }
  }
}

function latest(manifests: Manifest[]): Manifest | undefined {
  return manifests.reduce<Manifest | undefined>((a, b) => (a && a.backupId > b.backupId ? a : b), undefined);
}
