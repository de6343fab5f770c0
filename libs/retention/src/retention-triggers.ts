import { hostname } from 'node:os';
import { InjectQueue } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { TIDEMARK_CONFIG } from '@tidemark/config';
import { ConfigError, policyOf, targetById, type TidemarkConfig } from '@tidemark/policy';
import { EVENT_BUS, errorData, type EventBus, type TidemarkEvent } from '@tidemark/events';
import { JOBS, jobOptions, QUEUES, type RetentionJob } from '@tidemark/queues';
import type { Queue } from 'bullmq';

/** The daily sweep: one BullMQ job scheduler shared by every replica (upserting it is idempotent). */
export const RETENTION_SCHEDULER_ID = 'retention:daily';
export const RETENTION_SWEEP = { pattern: '0 3 * * *', tz: 'UTC' } as const;
/** Consumer group of the retention service on the event stream: each event goes to one replica. */
export const RETENTION_CONSUMER_GROUP = 'retention';

/**
 * What sets retention going: every `backup.verified` event (a new verified backup may let older ones go) and a
 * daily sweep of all targets. Both are jobs on the `retention` queue, so every run enters through it (and meets a
 * held lock the same way, RetentionRetry): the sweep a job scheduler's, each event a job for its target.
 */
@Injectable()
export class RetentionTriggers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RetentionTriggers.name);
  private readonly stop = new AbortController();
  private consuming: Promise<void> | undefined;

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: TidemarkConfig,
    @Inject(EVENT_BUS) private readonly bus: EventBus,
    @InjectQueue(QUEUES.retention) private readonly queue: Queue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const sweep: RetentionJob = { v: 1 };
    await this.queue.upsertJobScheduler(RETENTION_SCHEDULER_ID, RETENTION_SWEEP, {
      name: JOBS.retention.name,
      data: sweep,
      opts: JOBS.retention.options,
    });
    const consumer = `${hostname()}-${process.pid}`;
    this.consuming = this.bus
      .consume(RETENTION_CONSUMER_GROUP, consumer, (event) => this.onEvent(event), this.stop.signal)
      .catch((error: unknown) => {
        this.logger.error({ err: errorData(error) }, 'event consumer stopped');
      });
    this.logger.log({ consumer, sweep: RETENTION_SWEEP }, 'retention triggers in place');
  }

  /** Stops taking events and lets the one being handled finish, before the bus and Redis close. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stop.abort();
    await this.consuming;
  }

  /**
   * Queues the verified backup's target for retention (JOBS.retentionOnVerified): the job carries the target id
   * only, and a burst of events for one target coalesces into one job. A target that left the config is not worth
   * a job; a failure to queue is thrown so the event is redelivered.
   */
  async onEvent(event: TidemarkEvent): Promise<void> {
    if (event.type !== 'tidemark.backup.verified') return;
    const { targetId } = event.data;
    try {
      policyOf(this.config, targetById(this.config, targetId));
    } catch (error) {
      if (error instanceof ConfigError) {
        this.logger.warn(
          { targetId, err: errorData(error) },
          'verified backup of an unknown target: ignored',
        );
        return;
      }
      throw error;
    }
    const job: RetentionJob = { v: 1, targetId };
    const queued = await this.queue.add(
      JOBS.retentionOnVerified.name,
      job,
      jobOptions(JOBS.retentionOnVerified, job),
    );
    this.logger.log(
      { targetId, backupId: event.data.backupId, job: queued.id },
      'backup verified: retention queued',
    );
  }
}
