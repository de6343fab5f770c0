import { Inject, Injectable } from '@nestjs/common';
import { failureSchema, parseManifest, type Failure, type Manifest } from '@tidemark/manifest';
import { REDIS } from '@tidemark/queues';
import { redisKey } from '@tidemark/events';
import type { Redis } from 'ioredis';
import { z } from 'zod';

/** A backup's final failure that could not be written to its manifest yet (Blob Storage was away). */
export interface PendingFailure {
  targetId: string;
  backupId: string;
  failure: Failure;
  /**
   * What the catalog should hold when it has no manifest of this backup yet (a dump that failed before upload):
   * the failed local manifest, without parts. Null when a remote manifest is expected.
   */
  manifest: Manifest | null;
}

const storedSchema = z.object({
  targetId: z.string(),
  backupId: z.string(),
  failure: failureSchema,
  manifest: z.unknown().nullable(),
});

/** Where parked failures wait: one Redis hash in the services, a Map in unit tests. */
export interface PendingFailureStore {
  park(pending: PendingFailure): Promise<void>;
  has(targetId: string, backupId: string): Promise<boolean>;
  /** Removes the entry; true for the one caller that removed it, so only that caller publishes the event. */
  claim(pending: Pick<PendingFailure, 'targetId' | 'backupId'>): Promise<boolean>;
  /** Every parked failure; an unreadable entry is returned as its field name with the reason, never dropped. */
  all(): Promise<{ pending: PendingFailure[]; unreadable: { field: string; error: string }[] }>;
}

/**
 * Final failures waiting to be recorded, in one Redis hash (field `<targetId>/<backupId>`). `backup.failed` is
 * published only once the failure is in the manifest, so the event never says what the catalog does not: the
 * reconciler records these when Blob Storage answers again, then publishes.
 */
@Injectable()
export class PendingFailures implements PendingFailureStore {
  private readonly key = redisKey('pending-failures');

  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async park(pending: PendingFailure): Promise<void> {
    await this.redis.hset(this.key, field(pending), JSON.stringify(pending));
  }

  async has(targetId: string, backupId: string): Promise<boolean> {
    return (await this.redis.hexists(this.key, `${targetId}/${backupId}`)) === 1;
  }

  /** Removes the entry; true for the one caller that removed it, so only that caller publishes the event. */
  async claim(pending: Pick<PendingFailure, 'targetId' | 'backupId'>): Promise<boolean> {
    return (await this.redis.hdel(this.key, field(pending))) === 1;
  }

  /** Every parked failure; an unreadable entry is returned as its field name with the reason, never dropped. */
  async all(): Promise<{ pending: PendingFailure[]; unreadable: { field: string; error: string }[] }> {
    const entries = await this.redis.hgetall(this.key);
    const pending: PendingFailure[] = [];
    const unreadable: { field: string; error: string }[] = [];
    for (const [name, raw] of Object.entries(entries)) {
      try {
        const stored = storedSchema.parse(JSON.parse(raw));
        pending.push({
          ...stored,
          manifest: stored.manifest === null ? null : parseManifest(stored.manifest, name),
        });
      } catch (error) {
        unreadable.push({ field: name, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return { pending, unreadable };
  }
}

function field(ids: Pick<PendingFailure, 'targetId' | 'backupId'>): string {
  return `${ids.targetId}/${ids.backupId}`;
}
