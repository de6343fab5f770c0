import { Catalog, ManifestStore } from '@tidemark/catalog';
import { loadConfig, type LoadedConfig } from '@tidemark/config';
import { createEventBus, EventPublisher, type EventBus } from '@tidemark/events';
import { TidemarkMetrics } from '@tidemark/observability';
import { PendingFailures, Pipeline, TargetLock } from '@tidemark/pipeline';
import {
  BullJobQueues,
  describeRedis,
  queuePrefix,
  RedisLock,
  redisConnection,
  redisOptions,
  redisUrl,
} from '@tidemark/queues';
import { RestoreService } from '@tidemark/restore';
import {
  RETENTION_LOCK_PURPOSE,
  RETENTION_LOCK_TTL_MS,
  RetentionPlanner,
  RetentionService,
} from '@tidemark/retention';
import { createBlobStore, LocalTier, type BlobStore } from '@tidemark/storage';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { withStorageDefaults } from './local-azurite';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

/**
 * What CLI commands work with, built on first use from the config and the environment and closed at exit.
 * The CLI talks to Redis and Blob Storage directly (like a service), never to a service over HTTP.
 */
export class CliContext {
  readonly env: NodeJS.ProcessEnv;
  private cache = new Map<string, unknown>();
  private closers: (() => Promise<unknown>)[] = [];

  constructor(
    readonly options: GlobalOptions,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.env = withStorageDefaults(env);
  }

  private once<T>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }

  get config(): LoadedConfig {
    return this.once('config', () =>
      loadConfig({ ...(this.options.config ? { path: this.options.config } : {}), env: this.env }),
    );
  }

  get store(): BlobStore {
    return this.once('store', () =>
      createBlobStore({ container: this.config.storage.container, env: this.env }),
    );
  }

  get catalog(): Catalog {
    return this.once('catalog', () => new Catalog(this.store));
  }

  get restores(): RestoreService {
    return this.once('restores', () => new RestoreService(this.catalog, this.store, this.env));
  }

  /** Fails with one clear line when Redis does not answer, instead of hanging in reconnect loops. */
  async redis(): Promise<Redis> {
    return this.once('redis', async () => {
      const client = redisConnection(redisUrl(this.env), {
        maxRetriesPerRequest: 1,
        lazyConnect: true,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      this.closers.push(() => client.quit().catch(() => undefined));
      try {
        await client.connect();
        await client.ping();
      } catch {
        throw new Error(`Redis at ${describeRedis(redisUrl(this.env))} is unreachable (set REDIS_URL)`);
      }
      return client;
    });
  }

  async bus(): Promise<EventBus> {
    await this.redis();
    return this.once('bus', () => {
      // Service Bus when configured, else the Redis Stream. The CLI does not forward the outbox: the services do.
      const bus = createEventBus(this.env, { forward: false });
      this.closers.push(() => bus.close());
      return bus;
    });
  }

  async pipeline(): Promise<Pipeline> {
    const redis = await this.redis();
    const bus = await this.bus();
    return this.once('pipeline', () => {
      const queue = (name: string): Queue => {
        const q = new Queue(name, {
          connection: redisOptions(redisUrl(this.env)),
          prefix: queuePrefix(this.env),
        });
        this.closers.push(() => q.close());
        return q;
      };
      return new Pipeline(
        new BullJobQueues(queue('dump'), queue('upload'), queue('verify'), queue('retention')),
        new TargetLock(redis),
        new EventPublisher(bus, 'cli'),
        new ManifestStore(this.store, this.local),
        this.local,
        new TidemarkMetrics('cli'),
        new PendingFailures(redis),
      );
    });
  }

  get local(): LocalTier {
    return this.once('local', () => new LocalTier(this.config.local.path));
  }

  /** Reads only, so `retention plan` works without Redis. */
  get retentionPlanner(): RetentionPlanner {
    return this.once('retentionPlanner', () => new RetentionPlanner(this.config, this.catalog, this.local));
  }

  /** Applying takes the same per-target lock as the retention service's replicas, and publishes its event. */
  async retention(): Promise<RetentionService> {
    const redis = await this.redis();
    const bus = await this.bus();
    return this.once(
      'retention',
      () =>
        new RetentionService({
          config: this.config,
          catalog: this.catalog,
          store: this.store,
          local: this.local,
          lock: new RedisLock(redis, RETENTION_LOCK_PURPOSE, RETENTION_LOCK_TTL_MS),
          events: new EventPublisher(bus, 'cli'),
          metrics: new TidemarkMetrics('cli'),
        }),
    );
  }

  async close(): Promise<void> {
    for (const close of this.closers.reverse()) await close();
  }
}
