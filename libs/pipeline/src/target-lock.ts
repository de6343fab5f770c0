import { Inject, Injectable } from '@nestjs/common';
import { REDIS } from '@tidemark/queues';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * At most one dump per target: a key naming the backup that holds the target. Taken at trigger time (so a
 * trigger meanwhile is coalesced into the running backup), kept alive by the dumper, released when the dump ends.
 * The TTL frees a target whose dumper died without releasing it.
 */
@Injectable()
export class TargetLock {
  static readonly ttlMs = 15 * 60 * 1000;

  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  private key(targetId: string): string {
    return `tidemark:lock:dump:${targetId}`;
  }

  /** Takes the lock for `backupId`; returns the backup holding it (itself when taken or already held). */
  async acquire(targetId: string, backupId: string): Promise<string> {
    const key = this.key(targetId);
    for (;;) {
      const set = await this.redis.set(key, backupId, 'PX', TargetLock.ttlMs, 'NX');
      if (set === 'OK') return backupId;
      const holder = await this.redis.get(key);
      if (holder === backupId) {
        await this.redis.pexpire(key, TargetLock.ttlMs);
        return backupId;
      }
      if (holder !== null) return holder;
      // The lock expired between SET and GET: try again.
    }
  }

  async extend(targetId: string, backupId: string): Promise<boolean> {
    return (await this.redis.eval(EXTEND, 1, this.key(targetId), backupId, String(TargetLock.ttlMs))) === 1;
  }

  async release(targetId: string, backupId: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(targetId), backupId);
  }

  async holder(targetId: string): Promise<string | null> {
    return this.redis.get(this.key(targetId));
  }
}
