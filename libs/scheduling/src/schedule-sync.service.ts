import { randomUUID } from 'node:crypto';
import { InjectQueue } from '@nestjs/bullmq';
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
import { EventPublisher, errorData, type TypedEvent } from '@tidemark/events';
import { TidemarkMetrics } from '@tidemark/observability';
import { nextRun, policyOf, type Target } from '@tidemark/policy';
import { JOBS, QUEUES, REDIS, RedisLock, type ScheduleTick } from '@tidemark/queues';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { missedTicks } from './missed-ticks';

const SCHEDULER_PREFIX = 'target:';

export const SCHEDULE_RECONCILE_OPTIONS = Symbol('SCHEDULE_RECONCILE_OPTIONS');

export interface ScheduleReconcileOptions {
  /** The clock; tests move it. */
  now: () => Date;
  /** How often the job schedulers are checked against the config. */
  intervalMs: number;
  /** A job scheduler whose next run is further in the past than this is stalled (its delayed job was lost). */
  graceMs: number;
  /** How long one replica may hold the repair before another may take over. */
  lockTtlMs: number;
}

export function scheduleReconcileOptionsFromEnv(raw?: RawEnvironment): ScheduleReconcileOptions {
  const env = environmentOf(raw);
  return {
    now: () => new Date(),
    intervalMs: env.TIDEMARK_SCHEDULE_RECONCILE_MS,
    graceMs: env.TIDEMARK_SCHEDULE_GRACE_MS,
    lockTtlMs: 60_000,
  };
}

/** Why a job scheduler had to be put back. */
export type RestoreReason = 'missing' | 'stalled';

export interface RestoredSchedule {
  targetId: string;
  reason: RestoreReason;
  missedTicks: string[];
  missedTickCount: number;
  event: TypedEvent<'tidemark.schedule.restored'>;
}

interface SchedulerState {
  pattern: string | undefined;
  tz: string | undefined;
  next: number | undefined;
}

/**
 * One BullMQ job scheduler per target, from the config: upserted at start and removed when a target leaves the
 * config. Each tick becomes a trigger like any other.
 *
 * Redis can lose them (a flush, a failover to an empty replica, a restart without persistence), so they are
 * reconciled every `intervalMs`: a missing scheduler, or one whose next run is past by more than `graceMs`, is put
 * back, logged, counted and announced as `tidemark.schedule.restored` with the ticks that fell due meanwhile.
 * Every replica checks (a read); the repair runs under a lock and checks again, so it is announced once.
 */
@Injectable()
export class ScheduleSync implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ScheduleSync.name);
  private readonly options: ScheduleReconcileOptions;
  private readonly lock: RedisLock;
  /** Per target, the next tick this replica last saw planned: where missed ticks are counted from. */
  private readonly lastPlanned = new Map<string, Date>();
  private readonly startedAt: Date;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @InjectQueue(QUEUES.schedule) private readonly queue: Queue,
    private readonly events: EventPublisher,
    private readonly metrics: TidemarkMetrics,
    @Inject(REDIS) redis: Redis,
    @Optional() @Inject(SCHEDULE_RECONCILE_OPTIONS) options?: Partial<ScheduleReconcileOptions>,
  ) {
    this.options = { ...scheduleReconcileOptionsFromEnv(), ...options };
    this.lock = new RedisLock(redis, 'schedules', this.options.lockTtlMs);
    this.startedAt = this.options.now();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => {
      this.reconcile().catch((error: unknown) => {
        this.logger.warn({ err: errorData(error) }, 'schedule reconcile failed');
      });
    }, this.options.intervalMs);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async sync(): Promise<{ upserted: string[]; removed: string[] }> {
    const wanted = new Set<string>();
    for (const target of this.config.targets) {
      wanted.add(`${SCHEDULER_PREFIX}${target.id}`);
      await this.upsert(target);
      const policy = policyOf(this.config, target);
      this.logger.log(
        {
          targetId: target.id,
          schedule: policy.schedule,
          timezone: policy.timezone,
          nextRun: nextRun(policy.schedule, policy.timezone, new Date()),
        },
        'schedule in place',
      );
    }
    const removed: string[] = [];
    for (const key of (await this.schedulers()).keys()) {
      if (key.startsWith(SCHEDULER_PREFIX) && !wanted.has(key)) {
        await this.queue.removeJobScheduler(key);
        removed.push(key.slice(SCHEDULER_PREFIX.length));
        this.logger.log(
          { targetId: key.slice(SCHEDULER_PREFIX.length) },
          'target left the config: schedule removed',
        );
      }
    }
    this.observe(await this.schedulers());
    return { upserted: [...wanted].map((id) => id.slice(SCHEDULER_PREFIX.length)), removed };
  }

  /** One pass: puts back what Redis lost and reports it; returns what it restored (none when all is in place). */
  async reconcile(): Promise<RestoredSchedule[]> {
    const seen = await this.schedulers();
    if (this.broken(seen).length === 0) {
      await this.repairDrift(seen);
      this.observe(seen);
      return [];
    }
    const owner = randomUUID();
    if ((await this.lock.acquire('all', owner)) !== owner) return [];
    try {
      // Another replica may have repaired them while this one waited for the lock.
      const current = await this.schedulers();
      const restored: RestoredSchedule[] = [];
      for (const { target, reason, from } of this.broken(current)) {
        await this.upsert(target);
        restored.push(await this.report(target, reason, from));
      }
      this.observe(await this.schedulers());
      return restored;
    } finally {
      await this.lock.release('all', owner);
    }
  }

  private broken(seen: Map<string, SchedulerState>): { target: Target; reason: RestoreReason; from: Date }[] {
    const now = this.options.now().getTime();
    const found: { target: Target; reason: RestoreReason; from: Date }[] = [];
    for (const target of this.config.targets) {
      const state = seen.get(`${SCHEDULER_PREFIX}${target.id}`);
      if (!state) {
        found.push({ target, reason: 'missing', from: this.lastPlanned.get(target.id) ?? this.startedAt });
      } else if (state.next !== undefined && state.next < now - this.options.graceMs) {
        found.push({ target, reason: 'stalled', from: new Date(state.next) });
      }
    }
    return found;
  }

  /** A scheduler in place with another cron or zone (someone edited Redis): set back to the config, quietly. */
  private async repairDrift(seen: Map<string, SchedulerState>): Promise<void> {
    for (const target of this.config.targets) {
      const state = seen.get(`${SCHEDULER_PREFIX}${target.id}`);
      const policy = policyOf(this.config, target);
      if (state && (state.pattern !== policy.schedule || (state.tz ?? 'UTC') !== policy.timezone))
        await this.upsert(target);
    }
  }

  private async report(target: Target, reason: RestoreReason, from: Date): Promise<RestoredSchedule> {
    const policy = policyOf(this.config, target);
    const now = this.options.now();
    const missed = missedTicks(policy.schedule, policy.timezone, from, now);
    const ticks = missed.listed.map((t) => t.toISOString());
    const data = {
      reason,
      schedule: policy.schedule,
      timezone: policy.timezone,
      missedTicks: ticks,
      missedTickCount: missed.count,
      nextRun: nextRun(policy.schedule, policy.timezone, now).toISOString(),
    };
    this.logger.warn({ targetId: target.id, ...data }, 'job scheduler lost from Redis: restored');
    this.metrics.schedulesRestored.inc({ target: target.id, reason });
    this.metrics.scheduleMissedTicks.inc({ target: target.id }, missed.count);
    const event = await this.events.emit('tidemark.schedule.restored', target.id, undefined, data);
    return { targetId: target.id, reason, missedTicks: ticks, missedTickCount: missed.count, event };
  }

  private observe(seen: Map<string, SchedulerState>): void {
    for (const target of this.config.targets) {
      const next = seen.get(`${SCHEDULER_PREFIX}${target.id}`)?.next;
      if (next !== undefined) this.lastPlanned.set(target.id, new Date(next));
    }
  }

  private async upsert(target: Target): Promise<void> {
    const policy = policyOf(this.config, target);
    const tick: ScheduleTick = { v: 1, targetId: target.id };
    await this.queue.upsertJobScheduler(
      `${SCHEDULER_PREFIX}${target.id}`,
      { pattern: policy.schedule, tz: policy.timezone },
      { name: JOBS.tick.name, data: tick, opts: JOBS.tick.options },
    );
  }

  private async schedulers(): Promise<Map<string, SchedulerState>> {
    const all = await this.queue.getJobSchedulers(0, -1);
    return new Map(
      all.map((s) => [s.key, { pattern: s.pattern ?? undefined, tz: s.tz ?? undefined, next: s.next }]),
    );
  }
}
