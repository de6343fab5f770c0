import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { EventPublisher, type EventBus } from '@tidemark/events';
import { Pipeline } from '@tidemark/pipeline';
import { REDIS } from '@tidemark/queues';
import { PointInTimeRestoreService, RestoreService } from '@tidemark/restore';
import { RetentionPlanner, RetentionService } from '@tidemark/retention';
import { BLOB_STORE, LOCAL_TIER, type BlobStore, type LocalTier } from '@tidemark/storage';
import type { Redis } from 'ioredis';
import { assertRedisReachable, CliEventBus } from './cli-event-bus';
import { CliServicesModule, CliStorageModule, type CliModuleOptions } from './cli.module';
import { withStorageDefaults } from './local-azurite';

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

  /** Config, Blob Storage, catalog, restore, retention plan: never connects to Redis. */
  async storage(): Promise<CliStorage> {
    // Once the full context is open it serves these too.
    const app = await (this.servicesApp ??
      (this.storageApp ??= open(CliStorageModule.forRoot(this.moduleOptions))));
    return storageOf(app);
  }

  /** Everything, Redis included: fails with one line when Redis does not answer. */
  async services(): Promise<CliServices> {
    this.servicesApp ??= this.redisReachable().then(() =>
      open(CliServicesModule.forRoot(this.moduleOptions)),
    );
    const app = await this.servicesApp;
    return {
      ...storageOf(app),
      redis: app.get<Redis>(REDIS),
      pipeline: app.get(Pipeline),
      retention: app.get(RetentionService),
    };
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

/** No logs of its own (the CLI reports for itself), and a failure (a bad config) thrown as it is. */
function open(module: DynamicModule): Promise<INestApplicationContext> {
  // Nest declares these options as a class but only ever reads them as a plain object.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  return NestFactory.createApplicationContext(module, { logger: false, abortOnError: false });
}

function storageOf(app: INestApplicationContext): CliStorage {
  return {
    config: app.get<LoadedConfig>(TIDEMARK_CONFIG),
    store: app.get<BlobStore>(BLOB_STORE),
    catalog: app.get(Catalog),
    manifests: app.get(ManifestStore),
    local: app.get<LocalTier>(LOCAL_TIER),
    restores: app.get(RestoreService),
    pointInTime: app.get(PointInTimeRestoreService),
    retentionPlanner: app.get(RetentionPlanner),
    events: app.get(EventPublisher),
  };
}
