import type { Lock } from '@tidemark/queues';

/** A {@link Lock} in a Map: what RedisLock does, without the TTL (a test calls {@link expire} instead). */
export class MemoryLock implements Lock {
  private readonly owners = new Map<string, string>();

  acquire(targetId: string, owner: string): Promise<string> {
    const holder = this.owners.get(targetId);
    if (holder === undefined) this.owners.set(targetId, owner);
    return Promise.resolve(holder ?? owner);
  }

  extend(targetId: string, owner: string): Promise<boolean> {
    return Promise.resolve(this.owners.get(targetId) === owner);
  }

  release(targetId: string, owner: string): Promise<void> {
    if (this.owners.get(targetId) === owner) this.owners.delete(targetId);
    return Promise.resolve();
  }

  holder(targetId: string): Promise<string | null> {
    return Promise.resolve(this.owners.get(targetId) ?? null);
  }

  /** The lock's TTL ran out (its holder died). */
  expire(targetId: string): void {
    this.owners.delete(targetId);
  }
}
