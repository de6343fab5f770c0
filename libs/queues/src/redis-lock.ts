import { redisKeyRoot } from '@tidemark/events';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** A per-target mutual exclusion, as its users see it (Redis in the services, a Map in unit tests). */
export interface Lock {
  /** Takes the lock for `owner`; returns the owner holding it (`owner` itself when taken or already held). */
  acquire(targetId: string, owner: string): Promise<string>;
  /** False when `owner` no longer holds it. */
  extend(targetId: string, owner: string): Promise<boolean>;
  /** Releasing a lock `owner` does not hold is a no-op. */
  release(targetId: string, owner: string): Promise<void>;
  holder(targetId: string): Promise<string | null>;
}

/**
 * A per-target mutual exclusion across replicas: `<key root>:lock:<purpose>:<targetId>` (`tidemark:lock:…` without
 * TIDEMARK_NAMESPACE) holds the owner's id (SET NX PX). Only the owner extends or releases it; the TTL frees a
 * target whose owner died holding it.
 */
export class RedisLock implements Lock {
  constructor(
    private readonly redis: Redis,
    readonly purpose: string,
    readonly ttlMs: number,
    /** The namespace's key root; read from the environment unless given. */
    readonly keyRoot: string = redisKeyRoot(),
  ) {}

  key(targetId: string): string {
    return `${this.keyRoot}:lock:${this.purpose}:${targetId}`;
  }

  /** Takes the lock for `owner`; returns the owner holding it (`owner` itself when taken or already held). */
  async acquire(targetId: string, owner: string): Promise<string> {
    const key = this.key(targetId);
    for (;;) {
      const set = await this.redis.set(key, owner, 'PX', this.ttlMs, 'NX');
      if (set === 'OK') return owner;
      const holder = await this.redis.get(key);
      if (holder === owner) {
        await this.redis.pexpire(key, this.ttlMs);
        return owner;
      }
      if (holder !== null) return holder;
      // The lock expired between SET and GET: try again.
    }
  }

  async extend(targetId: string, owner: string): Promise<boolean> {
    return (await this.redis.eval(EXTEND, 1, this.key(targetId), owner, String(this.ttlMs))) === 1;
  }

  async release(targetId: string, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(targetId), owner);
  }

  async holder(targetId: string): Promise<string | null> {
    return this.redis.get(this.key(targetId));
  }
}
