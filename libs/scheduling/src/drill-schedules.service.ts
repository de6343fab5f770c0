import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { nextRun, policyOf } from '@tidemark/policy';
import { JOBS, QUEUES, type DrillJob } from '@tidemark/queues';
import type { Queue } from 'bullmq';

const DRILL_SCHEDULER_PREFIX = 'drill:';

/**
 * One BullMQ job scheduler `drill:<target>` per target whose policy has `drills:`, on the drill queue, in the
 * policy's time zone: upserted at start like the backup schedules, removed when a target's drills leave the config.
 */
@Injectable()
export class DrillSchedules implements OnApplicationBootstrap {
  private readonly logger = new Logger(DrillSchedules.name);

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @InjectQueue(QUEUES.drill) private readonly queue: Queue,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.sync();
  }

  async sync(): Promise<{ upserted: string[]; removed: string[] }> {
    const upserted: string[] = [];
    for (const target of this.config.targets) {
      const policy = policyOf(this.config, target);
      if (!policy.drills) continue;
      const template: DrillJob = { v: 1, targetId: target.id };
      await this.queue.upsertJobScheduler(
        `${DRILL_SCHEDULER_PREFIX}${target.id}`,
        { pattern: policy.drills.schedule, tz: policy.timezone },
        { name: JOBS.drill.name, data: template, opts: JOBS.drill.options },
      );
      upserted.push(target.id);
      this.logger.log(
        {
          targetId: target.id,
          schedule: policy.drills.schedule,
          timezone: policy.timezone,
          nextRun: nextRun(policy.drills.schedule, policy.timezone, new Date()),
        },
        'drill schedule in place',
      );
    }
    const removed: string[] = [];
    for (const scheduler of await this.queue.getJobSchedulers(0, -1)) {
      const targetId = scheduler.key.slice(DRILL_SCHEDULER_PREFIX.length);
      if (!scheduler.key.startsWith(DRILL_SCHEDULER_PREFIX) || upserted.includes(targetId)) continue;
      await this.queue.removeJobScheduler(scheduler.key);
      removed.push(targetId);
      this.logger.log({ targetId }, 'drills left the config: drill schedule removed');
    }
    return { upserted, removed };
  }
}
