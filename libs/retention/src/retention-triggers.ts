import { hostname } from 'node:os';
import { InjectQueue } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ConfigError } from '@tidemark/policy';
import { EVENT_BUS, errorData, type EventBus, type TidemarkEvent } from '@tidemark/events';
import { JOBS, QUEUES, type RetentionJob } from '@tidemark/queues';
import type { Queue } from 'bullmq';
import { RetentionRetry } from './retention-retry';

/** The daily sweep: one BullMQ job scheduler shared by every replica (upserting it is idempotent). */
export const RETENTION_SCHEDULER_ID = 'retention:daily';
export const RETENTION_SWEEP = { pattern: '0 3 * * *', tz: 'UTC' } as const;
/** Consumer group of the retention service on the event stream: each event goes to one replica. */
export const RETENTION_CONSUMER_GROUP = 'retention';

/**
 * What sets retention going: every `backup.verified` event (a new verified backup may let older ones go) and a
 * daily sweep of all targets. The sweep runs as a job on the `retention` queue; the events are consumed here.
 */
@Injectable()
export class RetentionTriggers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RetentionTriggers.name);
  private readonly stop = new AbortController();
  private consuming: Promise<void> | undefined;

  constructor(
    private readonly retention: RetentionRetry,
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
   * A failure is thrown so the event is redelivered; a target that left the config is not worth a retry; a target
   * whose lock another run holds gets a delayed retry job (RetentionRetry).
   */
  async onEvent(event: TidemarkEvent): Promise<void> {
    if (event.type !== 'tidemark.backup.verified') return;
    const { targetId } = event.data;
    try {
      await this.retention.apply(targetId);
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
  }
}
