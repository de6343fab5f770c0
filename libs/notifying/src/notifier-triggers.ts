import { hostname } from 'node:os';
import { InjectQueue } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { EVENT_BUS, errorData, type EventBus, type TidemarkEvent } from '@tidemark/events';
import { JOBS, QUEUES, type NotifierDigestJob } from '@tidemark/queues';
import type { Queue } from 'bullmq';
import type { NotificationsSettings } from './channel-contract';
import type { Notifier } from './notifier';

/** Consumer group of the notifier on the event stream (and its Service Bus subscription): each event to one replica. */
export const NOTIFIER_CONSUMER_GROUP = 'notifier';
/** Prefix of the digest job schedulers, one per digest route: `notifier:digest:<route index>`. */
export const DIGEST_SCHEDULER_PREFIX = 'notifier:digest:';
export const DEFAULT_DIGEST_TIME = '08:00';

/** The notifier of this process, or null when the config has no `notifications` (the service then idles). */
export const NOTIFIER = Symbol('NOTIFIER');
export const NOTIFICATION_SETTINGS = Symbol('NOTIFICATION_SETTINGS');

/** The cron pattern of a digest: daily at `digestTime` (UTC, HH:MM), weekly the same time on Mondays. */
export function digestPattern(period: 'daily' | 'weekly', digestTime = DEFAULT_DIGEST_TIME): string {
  const match = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(digestTime);
  if (!match) throw new Error(`notifications.digestTime: "${digestTime}" is not a time like 08:00`);
  return `${Number(match[2])} ${Number(match[1])} * * ${period === 'weekly' ? '1' : '*'}`;
}

/**
 * What sets the notifier going: every event on the bus (consumer group `notifier`) and, per digest route, a BullMQ
 * job scheduler on the `notifier` queue (upserting it is idempotent across replicas; schedulers of routes that are
 * no longer digests are removed).
 */
@Injectable()
export class NotifierTriggers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(NotifierTriggers.name);
  private readonly stop = new AbortController();
  private consuming: Promise<void> | undefined;

  constructor(
    @Inject(NOTIFIER) private readonly notifier: Notifier | null,
    @Inject(NOTIFICATION_SETTINGS) private readonly settings: NotificationsSettings | null,
    @Inject(EVENT_BUS) private readonly bus: EventBus,
    @InjectQueue(QUEUES.notifier) private readonly queue: Queue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const notifier = this.notifier;
    // Also without notifications: the digests of a config that had them stop.
    await this.syncDigests(this.settings);
    if (!notifier || !this.settings) {
      this.logger.log({}, 'no notifications configured: the notifier idles');
      return;
    }
    const consumer = `${hostname()}-${process.pid}`;
    this.consuming = this.bus
      .consume(NOTIFIER_CONSUMER_GROUP, consumer, (event) => this.onEvent(notifier, event), this.stop.signal)
      .catch((error: unknown) => {
        this.logger.error({ err: errorData(error) }, 'event consumer stopped');
      });
    this.logger.log(
      { consumer, channels: Object.keys(this.settings.channels), routes: this.settings.routes.length },
      'notifier consuming events',
    );
  }

  /** Stops taking events and lets the one being delivered finish, before the bus and Redis close. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stop.abort();
    await this.consuming;
  }

  /** A failure is thrown so the bus redelivers the event; what was delivered is not delivered again (claims). */
  private async onEvent(notifier: Notifier, event: TidemarkEvent): Promise<void> {
    const handled = await notifier.handle(event);
    if (handled.sent.length + handled.failed.length + handled.suppressed.length > 0)
      this.logger.log({ eventId: event.id, type: event.type, ...handled }, 'event notified');
  }

  private async syncDigests(settings: NotificationsSettings | null): Promise<void> {
    const wanted = new Set<string>();
    for (const [route, spec] of (settings?.routes ?? []).entries()) {
      if (!spec.digest) continue;
      const id = `${DIGEST_SCHEDULER_PREFIX}${route}`;
      wanted.add(id);
      const job: NotifierDigestJob = { v: 1, route };
      await this.queue.upsertJobScheduler(
        id,
        { pattern: digestPattern(spec.digest, settings?.digestTime), tz: 'UTC' },
        { name: JOBS.notifierDigest.name, data: job, opts: JOBS.notifierDigest.options },
      );
    }
    for (const scheduler of await this.queue.getJobSchedulers(0, -1))
      if (scheduler.key.startsWith(DIGEST_SCHEDULER_PREFIX) && !wanted.has(scheduler.key))
        await this.queue.removeJobScheduler(scheduler.key);
  }
}
