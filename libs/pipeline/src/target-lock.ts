import { Inject, Injectable } from '@nestjs/common';
import { REDIS, RedisLock } from '@tidemark/queues';
import type { Redis } from 'ioredis';

/**
 * At most one dump per target: a key naming the backup that holds the target. Taken at trigger time (so a
 * trigger meanwhile is coalesced into the running backup), kept alive by the dumper, released when the dump ends.
 * The TTL frees a target whose dumper died without releasing it.
 */
@Injectable()
export class TargetLock extends RedisLock {
  static readonly ttlMs = 15 * 60 * 1000;

  constructor(@Inject(REDIS) redis: Redis) {
    super(redis, 'dump', TargetLock.ttlMs);
  }
}
