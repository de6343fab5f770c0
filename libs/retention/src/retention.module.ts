import { Module } from '@nestjs/common';
import { Catalog } from '@tidemark/catalog';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { EventPublisher } from '@tidemark/events';
import { TidemarkMetrics } from '@tidemark/observability';
import { REDIS, RedisLock } from '@tidemark/queues';
import { BLOB_STORE, LOCAL_TIER, type BlobStore, type LocalTier } from '@tidemark/storage';
import type { Redis } from 'ioredis';
import { RetentionRetry } from './retention-retry';
import { RetentionTriggers } from './retention-triggers';
import { RETENTION_LOCK_PURPOSE, RETENTION_LOCK_TTL_MS, RetentionService } from './retention.service';

/** Needs the ServiceRuntimeModule's global modules (config, queues, events, storage, catalog, observability). */
@Module({
  providers: [
    {
      provide: RetentionService,
      inject: [TIDEMARK_CONFIG, Catalog, BLOB_STORE, LOCAL_TIER, REDIS, EventPublisher, TidemarkMetrics],
      useFactory: (
        config: LoadedConfig,
        catalog: Catalog,
        store: BlobStore,
        local: LocalTier,
        redis: Redis,
        events: EventPublisher,
        metrics: TidemarkMetrics,
      ) =>
        new RetentionService({
          config,
          catalog,
          store,
          local,
          lock: new RedisLock(redis, RETENTION_LOCK_PURPOSE, RETENTION_LOCK_TTL_MS),
          events,
          metrics,
        }),
    },
    RetentionRetry,
    RetentionTriggers,
  ],
  exports: [RetentionService, RetentionRetry],
})
export class RetentionModule {}
