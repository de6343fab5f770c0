import { InjectQueue } from '@nestjs/bullmq';
import { Controller, Get } from '@nestjs/common';
import { QUEUES } from '@tidemark/queues';
import type { Queue } from 'bullmq';

/** The job states that need a worker now or later: waiting, running, waiting by priority, waiting for a retry. */
export const DEMAND_STATES = ['wait', 'active', 'prioritized', 'delayed'] as const;
export type DemandState = (typeof DEMAND_STATES)[number];

export type QueueDemand = Record<DemandState, number> & {
  /** What a scaler reads: every job that will need a worker. */
  demand: number;
};

/** The path KEDA's metrics-api triggers read (deploy/k8s/base/scaledobjects.yaml). */
export const QUEUE_DEMAND_PATH = '/scaling/queues';

export async function queueDemand(queue: Queue): Promise<QueueDemand> {
  const counts = await queue.getJobCounts(...DEMAND_STATES);
  const of = (state: DemandState): number => counts[state] ?? 0;
  return {
    wait: of('wait'),
    active: of('active'),
    prioritized: of('prioritized'),
    delayed: of('delayed'),
    demand: DEMAND_STATES.reduce((sum, state) => sum + of(state), 0),
  };
}

/**
 * The scaling signal of the workers that scale to zero, served by the scheduler (which never does). KEDA's redis
 * scaler reads list lengths only, so a job in the `delayed` or `prioritized` sorted set (a retry waiting for its
 * backoff) is invisible to it: with every replica at zero it would never run. This counts those too.
 */
@Controller('scaling')
export class QueueDemandController {
  private readonly queues: Queue[];

  constructor(
    @InjectQueue(QUEUES.dump) dump: Queue,
    @InjectQueue(QUEUES.upload) upload: Queue,
    @InjectQueue(QUEUES.verify) verify: Queue,
    @InjectQueue(QUEUES.retention) retention: Queue,
    @InjectQueue(QUEUES.drill) drill: Queue,
  ) {
    this.queues = [dump, upload, verify, retention, drill];
  }

  @Get('queues')
  async demand(): Promise<Record<string, QueueDemand>> {
    const entries = await Promise.all(this.queues.map(async (q) => [q.name, await queueDemand(q)] as const));
    return Object.fromEntries(entries);
  }
}
