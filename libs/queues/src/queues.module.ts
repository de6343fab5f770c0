import { BullModule } from '@nestjs/bullmq';
import { Global, Inject, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ReadinessChecks } from '@tidemark/observability';
import type { Redis } from 'ioredis';
import { QUEUE_NAMES } from './jobs';
import { queuePrefix } from './queue-prefix';
import { redisConnection, redisOptions } from './redis';

/** A plain Redis connection for what is not a queue (locks), closed on shutdown. */
export const REDIS = Symbol('REDIS');

/** Every queue of the pipeline, registered once; apps add workers with @Processor. */
@Global()
@Module({
  imports: [
    // A factory, so a malformed TIDEMARK_NAMESPACE fails the service's start with one line, not its import.
    BullModule.forRootAsync({ useFactory: () => ({ connection: redisOptions(), prefix: queuePrefix() }) }),
    ...QUEUE_NAMES.map((name) => BullModule.registerQueue({ name })),
  ],
  providers: [
    { provide: REDIS, useFactory: (): Redis => redisConnection(undefined, { maxRetriesPerRequest: 3 }) },
  ],
  exports: [BullModule, REDIS],
})
export class QueuesModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly readiness: ReadinessChecks,
  ) {}

  onModuleInit(): void {
    this.readiness.register('redis', async () => {
      await this.redis.ping();
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }
}
