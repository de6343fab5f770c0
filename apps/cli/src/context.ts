import type { Catalog, ManifestStore } from '@tidemark/catalog';
import { loadConfig, type LoadedConfig } from '@tidemark/config';
import type { EventBus, EventPublisher } from '@tidemark/events';
import type { Pipeline } from '@tidemark/pipeline';
import type { JobQueues } from '@tidemark/queues';
import type { PointInTimeRestoreService, RestoreService } from '@tidemark/restore';
import type { RetentionPlanner, RetentionService } from '@tidemark/retention';
import type { BlobStore, LocalTier } from '@tidemark/storage';
import type { INestApplicationContext } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { assertRedisReachable, CliEventBus } from './cli-event-bus';
import type { CliModuleOptions } from './cli.module';
import { withStorageDefaults } from './local-azurite';

/**
 * The Nest side of the context (the services' modules, NestFactory, every library they pull in), loaded by the
 * first command that needs it (`tidemark backup` through the API, `wal archive-command` and `config check` never do).
 */
const nest = (): typeof import('./nest-context') =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./nest-context') as typeof import('./nest-context');

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  /** A file holding the REST API's bearer token (else $TIDEMARK_TOKEN): never the token itself in argv. */
  tokenFile?: string;
}

/** What the commands that need only Blob Storage work with. */
export interface CliStorage {
  config: LoadedConfig;
  store: BlobStore;
  catalog: Catalog;
  /** The one writer of manifests (pin, unpin). */
  manifests: ManifestStore;
  local: LocalTier;
  restores: RestoreService;
  /** Restores of targets with a WAL archive to a time, a WAL position or the latest. */
  pointInTime: PointInTimeRestoreService;
  /** Reads only, so `retention plan` works without Redis. */
  retentionPlanner: RetentionPlanner;
  /** The CLI's events (source `cli`), the audit trail of what it changes among them. */
  events: EventPublisher;
}

/** And what the commands that go through Redis work with. */
export interface CliServices extends CliStorage {
  redis: Redis;
  pipeline: Pipeline;
  /** Applying takes the same per-target lock as the retention service's replicas, and publishes its event. */
  retention: RetentionService;
  /** The queues by their JOBS specs (a drill is queued as it is, nothing of the pipeline's around it). */
  jobs: JobQueues;
}

/**
 * What CLI commands work with: Nest application contexts of the services' own modules (CliStorageModule,
 * CliServicesModule), each built on first use and closed at exit. The CLI talks to Redis and Blob Storage
 * directly (like a service), never to a service over HTTP.
 */
export class CliContext {
  readonly env: NodeJS.ProcessEnv;
  private readonly eventBus: CliEventBus;
  private redisChecked: Promise<void> | undefined;
  private storageApp: Promise<INestApplicationContext> | undefined;
  private servicesApp: Promise<INestApplicationContext> | undefined;
  private loadedConfig: LoadedConfig | undefined;

  constructor(
    readonly options: GlobalOptions,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.env = withStorageDefaults(env);
    this.eventBus = new CliEventBus(this.env, () => this.redisReachable());
  }

  private get moduleOptions(): CliModuleOptions {
    return {
      ...(this.options.config ? { configPath: this.options.config } : {}),
      env: this.env,
      bus: this.eventBus,
      json: Boolean(this.options.json),
    };
  }

  /**
   * The config alone, for a command's checks of its arguments before it opens anything: `storage()` followed by
   * `services()` would build the Nest modules twice.
   */
  config(): LoadedConfig {
    this.loadedConfig ??= loadConfig({
      ...(this.options.config ? { path: this.options.config } : {}),
      env: this.env,
    });
    return this.loadedConfig;
  }

  /** Config, Blob Storage, catalog, restore, retention plan: never connects to Redis. */
  async storage(): Promise<CliStorage> {
    // Once the full context is open it serves these too.
    const { openStorage, storageOf } = nest();
    const app = await (this.servicesApp ?? (this.storageApp ??= openStorage(this.moduleOptions)));
    return storageOf(app);
  }

  /** Everything, Redis included: fails with one line when Redis does not answer. */
  async services(): Promise<CliServices> {
    const { openServices, servicesOf } = nest();
    this.servicesApp ??= this.redisReachable().then(() => openServices(this.moduleOptions));
    return servicesOf(await this.servicesApp);
  }

  async redis(): Promise<Redis> {
    return (await this.services()).redis;
  }

  /** Service Bus when configured, else the Redis Stream; needs no config. */
  async bus(): Promise<EventBus> {
    await this.redisReachable();
    return this.eventBus;
  }

  private redisReachable(): Promise<void> {
    this.redisChecked ??= assertRedisReachable(this.env);
    return this.redisChecked;
  }

  async close(): Promise<void> {
    for (const app of [this.servicesApp, this.storageApp]) {
      const opened = await app?.catch(() => undefined);
      await opened?.close();
    }
    await this.eventBus.close();
  }
}
