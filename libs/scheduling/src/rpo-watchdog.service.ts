import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { environmentOf, type RawEnvironment } from '@tidemark/environment';
import { EventPublisher, errorData, redisKey, type Severity, type TypedEvent } from '@tidemark/events';
import { backupIdTime } from '@tidemark/manifest';
import { TargetLock } from '@tidemark/pipeline';
import { policyOf } from '@tidemark/policy';
import { REDIS, RedisLock } from '@tidemark/queues';
import { LOCAL_TIER, type LocalTier } from '@tidemark/storage';
import type { Redis } from 'ioredis';
import { CatalogGauges, type TargetSummary } from './catalog-gauges.service';
import { assessOverdue, OVERDUE_LEVELS, type OverdueLevel, type OverdueReason } from './overdue';

/** Hash of the last judged state per target: survives restarts and is shared by every scheduler replica. */
export function watchdogStateKey(raw?: RawEnvironment): string {
  return redisKey('watchdog', raw);
}

export const WATCHDOG_OPTIONS = Symbol('WATCHDOG_OPTIONS');

export interface WatchdogOptions {
  /** The clock; tests move it. */
  now: () => Date;
  intervalMs: number;
  graceMs: number;
  /** A catalog listing at most this old (from the gauges' refresh) is judged instead of listing again. */
  snapshotMaxAgeMs: number;
  /** How long one replica may hold the evaluation before another may take over. */
  lockTtlMs: number;
}

export function watchdogOptionsFromEnv(raw?: RawEnvironment): WatchdogOptions {
  const env = environmentOf(raw);
  return {
    now: () => new Date(),
    intervalMs: env.TIDEMARK_WATCHDOG_INTERVAL_MS,
    graceMs: env.TIDEMARK_WATCHDOG_GRACE_MS,
    snapshotMaxAgeMs: 30_000,
    lockTtlMs: 120_000,
  };
}

interface StoredState {
  level: OverdueLevel;
  reason: OverdueReason | null;
  since: string;
  /** When the watchdog first saw the target. */
  watchedSince: string;
}

type OverdueEvent = TypedEvent<'tidemark.backup.overdue'>;

const SEVERITY: Readonly<Record<OverdueLevel, Severity>> = {
  ok: 'info',
  warning: 'warning',
  critical: 'critical',
};

// Writes the new state only if nobody changed it since it was read: a replica whose lock ran out cannot announce
// the same change a second time.
const COMPARE_AND_SET = `
local current = redis.call('hget', KEYS[1], ARGV[1])
if (current == false and ARGV[2] == '') or current == ARGV[2] then
  redis.call('hset', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0`;

/**
 * The RPO watchdog: judges every target against its policy's RPO and schedule and raises `backup.overdue` on each
 * change of level (ok → warning → critical, and back: a recovery is the same type with severity info and
 * `recovered: true`). One replica evaluates at a time; the last state lives in Redis so a restart does not alert again.
 */
@Injectable()
export class RpoWatchdog implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RpoWatchdog.name);
  private readonly options: WatchdogOptions;
  private readonly lock: RedisLock;
  private readonly stateKey = watchdogStateKey();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    private readonly gauges: CatalogGauges,
    private readonly events: EventPublisher,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
    private readonly dumpLock: TargetLock,
    @Optional() @Inject(WATCHDOG_OPTIONS) options?: Partial<WatchdogOptions>,
  ) {
    this.options = { ...watchdogOptionsFromEnv(), ...options };
    this.lock = new RedisLock(redis, 'watchdog', this.options.lockTtlMs);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.evaluate().catch((error: unknown) => {
        this.logger.warn({ err: errorData(error) }, 'RPO watchdog evaluation failed');
      });
    }, this.options.intervalMs);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** One evaluation of every target; returns the events it raised (none when another replica holds the turn). */
  async evaluate(): Promise<OverdueEvent[]> {
    const owner = randomUUID();
    if ((await this.lock.acquire('all', owner)) !== owner) return [];
    try {
      return await this.evaluateAll();
    } finally {
      await this.lock.release('all', owner);
    }
  }

  private async evaluateAll(): Promise<OverdueEvent[]> {
    const now = this.options.now();
    const snapshot = await this.gauges.catalogSnapshot(now, this.options.snapshotMaxAgeMs);
    const stored = await this.redis.hgetall(this.stateKey);
    const local = await this.localStarts();
    const raised: OverdueEvent[] = [];
    for (const target of this.config.targets) {
      const summary = snapshot.targets.get(target.id);
      const event = await this.evaluateTarget(target.id, summary, stored[target.id], local, now);
      if (event) raised.push(event);
    }
    const configured = new Set(this.config.targets.map((t) => t.id));
    const gone = Object.keys(stored).filter((id) => !configured.has(id));
    if (gone.length > 0) await this.redis.hdel(this.stateKey, ...gone);
    return raised;
  }

  private async evaluateTarget(
    targetId: string,
    summary: TargetSummary | undefined,
    raw: string | undefined,
    local: Map<string, string>,
    now: Date,
  ): Promise<OverdueEvent | undefined> {
    const target = this.config.targets.find((t) => t.id === targetId);
    if (!target) return undefined;
    const policy = policyOf(this.config, target);
    const previous = parseState(raw);
    const watchedSince = previous ? new Date(previous.watchedSince) : now;
    const lastVerified = summary?.lastVerified;
    const started = [summary?.newest?.backupId, local.get(targetId), await this.dumpLock.holder(targetId)]
      .filter((id): id is string => typeof id === 'string')
      .map(startTime)
      .filter((at): at is Date => at !== undefined);
    const assessment = assessOverdue({
      now,
      rpoHours: policy.rpoHours,
      schedule: policy.schedule,
      timezone: policy.timezone,
      graceMs: this.options.graceMs,
      lastVerified: lastVerified
        ? { backupId: lastVerified.backupId, at: backupIdTime(lastVerified.backupId) }
        : undefined,
      newestStartedAt: started.reduce<Date | undefined>((a, b) => (a && a > b ? a : b), undefined),
      watchedSince,
    });
    const previousLevel = previous?.level ?? 'ok';
    if (previous && previousLevel === assessment.level) return undefined;

    const next: StoredState = {
      level: assessment.level,
      reason: assessment.reason,
      since: now.toISOString(),
      watchedSince: watchedSince.toISOString(),
    };
    const won = await this.redis.eval(
      COMPARE_AND_SET,
      1,
      this.stateKey,
      targetId,
      raw ?? '',
      JSON.stringify(next),
    );
    if (won !== 1 || previousLevel === assessment.level) return undefined;

    const recovered = assessment.level === 'ok';
    const data = {
      rpoHours: policy.rpoHours,
      ageSeconds: assessment.ageSeconds,
      lastVerifiedBackupId: assessment.lastVerifiedBackupId,
      // A recovery names what it recovers from.
      reason: recovered ? (previous?.reason ?? 'rpo-exceeded') : (assessment.reason ?? 'rpo-exceeded'),
      level: assessment.level,
      previousLevel,
      ...(assessment.missedRunAt ? { missedRunAt: assessment.missedRunAt.toISOString() } : {}),
      ...(recovered ? { recovered: true } : {}),
    };
    this.logger.log({ targetId, ...data }, recovered ? 'target back within its RPO' : 'target overdue');
    return this.events.emit('tidemark.backup.overdue', targetId, undefined, data, SEVERITY[assessment.level]);
  }

  /** The newest backup id per target on the local tier: a dump in progress is there before the catalog has it. */
  private async localStarts(): Promise<Map<string, string>> {
    const newest = new Map<string, string>();
    try {
      for (const { targetId, backupId } of await this.local.listBackups()) {
        const current = newest.get(targetId);
        if (current === undefined || backupId > current) newest.set(targetId, backupId);
      }
    } catch (error) {
      // A scheduler without the local volume still judges by the catalog and the dump lock.
      this.logger.debug({ err: errorData(error) }, 'local tier not readable');
    }
    return newest;
  }
}

function parseState(raw: string | undefined): StoredState | undefined {
  if (raw === undefined) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<StoredState>;
    if (
      typeof value.level === 'string' &&
      OVERDUE_LEVELS.includes(value.level) &&
      typeof value.watchedSince === 'string' &&
      !Number.isNaN(Date.parse(value.watchedSince))
    )
      return {
        level: value.level,
        reason: value.reason ?? null,
        since: value.since ?? value.watchedSince,
        watchedSince: value.watchedSince,
      };
  } catch {
    // Unreadable state is treated as none; the compare-and-set still guards against a race.
  }
  return undefined;
}

function startTime(backupId: string): Date | undefined {
  try {
    return backupIdTime(backupId);
  } catch {
    return undefined;
  }
}
