import { hostname } from 'node:os';
import { Logger, Module } from '@nestjs/common';
import { Catalog } from '@tidemark/catalog';
import { resolveChannelConfigs, TIDEMARK_CONFIG } from '@tidemark/config';
import { environment } from '@tidemark/environment';
import { EventPublisher, redisKeyRoot } from '@tidemark/events';
import { createChannel } from '@tidemark/notification-channels';
import { TidemarkMetrics } from '@tidemark/observability';
import { ConfigError, type TidemarkConfig } from '@tidemark/policy';
import { REDIS } from '@tidemark/queues';
import { BLOB_STORE, type BlobStore } from '@tidemark/storage';
import type { Redis } from 'ioredis';
import type { Channel, NotificationsSettings } from './channel-contract';
import { CatalogLastVerified, recoveryWindowsOf } from './catalog-lookups';
import { Notifier } from './notifier';
import { RedisConditionStore, RedisDeliveryClaims, RedisDigestStore } from './redis-notifier-state';
import { NOTIFICATION_SETTINGS, NOTIFIER, NotifierTriggers } from './notifier-triggers';

/** The configured channels, `${VAR}`s resolved; a problem stops the start with one line per path. */
// Nest's Logger takes (message, context): the text goes into the object so a pino-backed logger keeps both.
const notifierLogger = new Logger('Notifier');

function channelsOf(config: TidemarkConfig): Map<string, Channel> {
  const { channels, issues } = resolveChannelConfigs(config);
  if (issues.length > 0) throw new ConfigError(issues);
  const env = environment();
  const delivery = {
    timeoutMs: env.TIDEMARK_NOTIFY_TIMEOUT_MS,
    baseDelayMs: env.TIDEMARK_NOTIFY_RETRY_DELAY_MS,
  };
  return new Map(
    Object.entries(channels).map(([name, resolved]) => [name, createChannel(name, resolved, { delivery })]),
  );
}

function createNotifier(
  config: TidemarkConfig,
  settings: NotificationsSettings | null,
  redis: Redis,
  publisher: EventPublisher,
  metrics: TidemarkMetrics,
  catalog: Catalog,
  store: BlobStore,
): Notifier | null {
  if (!settings) return null;
  const keyRoot = redisKeyRoot();
  const owner = `${hostname()}-${process.pid}`;
  return new Notifier({
    settings,
    channels: channelsOf(config),
    conditions: new RedisConditionStore(redis, keyRoot, owner),
    claims: new RedisDeliveryClaims(redis, keyRoot),
    digests: new RedisDigestStore(redis, keyRoot),
    lastVerified: new CatalogLastVerified(catalog),
    publishFailure: async (event, failure) => {
      await publisher.emit('tidemark.notification.failed', event.data.targetId, event.data.backupId, failure);
    },
    count: (channel, result) => {
      metrics.notificationsTotal.inc({ channel, result });
    },
    owner,
    recoveryWindows: () => recoveryWindowsOf(config, catalog, store),
    logger: {
      log: (obj, msg) => {
        notifierLogger.log({ ...obj, msg });
      },
      warn: (obj, msg) => {
        notifierLogger.warn({ ...obj, msg });
      },
    },
  });
}

/**
 * The notifier service's: the Notifier on Redis state, the configured channels, and its triggers. Needs the
 * ServiceRuntimeModule's global modules (config, Redis, events, metrics, catalog, storage).
 */
@Module({
  providers: [
    {
      provide: NOTIFICATION_SETTINGS,
      inject: [TIDEMARK_CONFIG],
      useFactory: (config: TidemarkConfig): NotificationsSettings | null => config.notifications ?? null,
    },
    {
      provide: NOTIFIER,
      inject: [
        TIDEMARK_CONFIG,
        NOTIFICATION_SETTINGS,
        REDIS,
        EventPublisher,
        TidemarkMetrics,
        Catalog,
        BLOB_STORE,
      ],
      useFactory: createNotifier,
    },
    NotifierTriggers,
  ],
  exports: [NOTIFIER],
})
export class NotifyingModule {}
