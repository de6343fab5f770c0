import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { EventPublisher } from '@tidemark/events';
import { Pipeline } from '@tidemark/pipeline';
import { JOB_QUEUES, REDIS, type JobQueues } from '@tidemark/queues';
import { PointInTimeRestoreService, RestoreService } from '@tidemark/restore';
import { RetentionPlanner, RetentionService } from '@tidemark/retention';
import { BLOB_STORE, LOCAL_TIER, type BlobStore, type LocalTier } from '@tidemark/storage';
import type { Redis } from 'ioredis';
import { CliServicesModule, CliStorageModule, type CliModuleOptions } from './cli.module';
import type { CliServices, CliStorage } from './context';

/** The Nest application contexts behind CliContext, in a module of their own so they load only when used. */
export function openStorage(options: CliModuleOptions): Promise<INestApplicationContext> {
  return open(CliStorageModule.forRoot(options));
}

export function openServices(options: CliModuleOptions): Promise<INestApplicationContext> {
  return open(CliServicesModule.forRoot(options));
}

export function servicesOf(app: INestApplicationContext): CliServices {
  return {
    ...storageOf(app),
    redis: app.get<Redis>(REDIS),
    pipeline: app.get(Pipeline),
    retention: app.get(RetentionService),
    jobs: app.get<JobQueues>(JOB_QUEUES),
  };
}

/** No logs of its own (the CLI reports for itself), and a failure (a bad config) thrown as it is. */
function open(module: DynamicModule): Promise<INestApplicationContext> {
  // Nest declares these options as a class but only ever reads them as a plain object.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  return NestFactory.createApplicationContext(module, { logger: false, abortOnError: false });
}

export function storageOf(app: INestApplicationContext): CliStorage {
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
