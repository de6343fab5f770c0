import { Inject, Injectable } from '@nestjs/common';
import { redisKey } from '@tidemark/events';
import { REDIS } from '@tidemark/queues';
import type { Redis } from 'ioredis';
import type { PlannedBackup } from './retention-plan';

/** Why retention leaves a backup alone while a restore drill reads it. */
export const BEING_DRILLED = 'being drilled';

/**
 * Marks in Redis on the backups a restore drill is reading (the drilled backup and, for a chain, every member it
 * restores): retention neither deletes nor moves them until the drill clears the mark. A mark outlives a drill
 * that died by its TTL at most, so a dead drill cannot hold a backup for ever.
 */
@Injectable()
export class DrillHolds {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  private key(targetId: string, backupId: string): string {
    return redisKey(`drilling:${targetId}:${backupId}`);
  }

  async hold(targetId: string, backupIds: readonly string[], drillId: string, ttlMs: number): Promise<void> {
    for (const backupId of backupIds)
      await this.redis.set(this.key(targetId, backupId), drillId, 'PX', Math.max(1000, Math.round(ttlMs)));
  }

  async release(targetId: string, backupIds: readonly string[]): Promise<void> {
    if (backupIds.length > 0) await this.redis.del(...backupIds.map((id) => this.key(targetId, id)));
  }

  /** Which of `backupIds` a drill is reading now. */
  async held(targetId: string, backupIds: readonly string[]): Promise<Set<string>> {
    if (backupIds.length === 0) return new Set();
    const values = await this.redis.mget(...backupIds.map((id) => this.key(targetId, id)));
    return new Set(backupIds.filter((_, index) => values[index] !== null));
  }
}

/** The plan with every held backup kept where it is: no deletion, no tier move, the reason said. */
export function withDrillHolds(
  backups: readonly PlannedBackup[],
  held: ReadonlySet<string>,
): PlannedBackup[] {
  return backups.map((planned) => {
    if (!held.has(planned.backupId) || planned.status === 'deleting') return planned;
    const { tierNote: _note, ...rest } = planned;
    return { ...rest, action: 'keep', reasons: [BEING_DRILLED], tierMove: null };
  });
}
