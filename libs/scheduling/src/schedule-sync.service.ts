import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { nextRun, policyOf } from '@tidemark/policy';
import { JOBS, type ScheduleTick } from '@tidemark/queues';
import type { Queue } from 'bullmq';

const SCHEDULER_PREFIX = 'target:';

/**
 * One BullMQ job scheduler per target, from the config: upserted at start (idempotent, so any number of scheduler
 * replicas agree) and removed when a target leaves the config. Each tick becomes a trigger like any other.
 */
@Injectable()
export class ScheduleSync implements OnApplicationBootstrap {
  private readonly logger = new Logger(ScheduleSync.name);

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @InjectQueue('schedule') private readonly queue: Queue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.sync();
  }

  async sync(): Promise<{ upserted: string[]; removed: string[] }> {
    const wanted = new Set<string>();
    for (const target of this.config.targets) {
      const policy = policyOf(this.config, target);
      const id = `${SCHEDULER_PREFIX}${target.id}`;
      wanted.add(id);
      const tick: ScheduleTick = { v: 1, targetId: target.id };
      await this.queue.upsertJobScheduler(
        id,
        { pattern: policy.schedule, tz: policy.timezone },
        { name: JOBS.tick.name, data: tick, opts: JOBS.tick.options },
      );
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
    for (const scheduler of await this.queue.getJobSchedulers(0, -1)) {
      const key = scheduler.key;
      if (key.startsWith(SCHEDULER_PREFIX) && !wanted.has(key)) {
        await this.queue.removeJobScheduler(key);
        removed.push(key.slice(SCHEDULER_PREFIX.length));
        this.logger.log(
          { targetId: key.slice(SCHEDULER_PREFIX.length) },
          'target left the config: schedule removed',
        );
      }
    }
    return { upserted: [...wanted].map((id) => id.slice(SCHEDULER_PREFIX.length)), removed };
  }
}
