import { BullModule } from '@nestjs/bullmq';
import {
  Global,
  Inject,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ReadinessChecks } from '@tidemark/observability';
import type { Redis } from 'ioredis';
import { assertNoEviction } from './eviction-policy';
import { BullJobQueues, JOB_QUEUES } from './job-queues';
import { QUEUE_NAMES } from './jobs';
import { queuePrefix } from './queue-prefix';
import { redisConnection, redisOptions, type RedisEndpoint } from './redis';

/** A plain Redis connection for what is not a queue (locks), closed on shutdown. */
export const REDIS = Symbol('REDIS');

async function rootOptions(): Promise<{ connection: RedisEndpoint; prefix: string }> {
  const prefix = queuePrefix();
  const probe = redisConnection(undefined, { maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined);
  try {
    await assertNoEviction(probe, new Logger('Redis'));
  } finally {
    probe.disconnect();
  }
  return { connection: redisOptions(), prefix };
}

/** Every queue of the pipeline, registered once; apps add workers with @Processor. */
@Global()
@Module({
  imports: [
    // Every queue waits for this factory: a malformed TIDEMARK_NAMESPACE or a Redis that may evict keys fails the
    // service's start with one line, before any queue, worker or job scheduler touches Redis.
    BullModule.forRootAsync({ useFactory: rootOptions }),
    ...QUEUE_NAMES.map((name) => BullModule.registerQueue({ name })),
  ],
  providers: [
    { provide: REDIS, useFactory: (): Redis => redisConnection(undefined, { maxRetriesPerRequest: 3 }) },
    { provide: JOB_QUEUES, useClass: BullJobQueues },
  ],
  exports: [BullModule, REDIS, JOB_QUEUES],
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
