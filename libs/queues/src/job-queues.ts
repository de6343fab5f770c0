import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { jobOptions, QUEUES, type JobSpec, type QueueName } from './jobs';

/** A job's state as the pipeline reads it: BullMQ's states, or `missing` when no job has that id. */
export type JobState =
  | 'active'
  | 'waiting'
  | 'waiting-children'
  | 'delayed'
  | 'prioritized'
  | 'completed'
  | 'failed'
  | 'missing'
  | 'unknown';

/** States in which a job will still run (or is running): a duplicate of it must not be enqueued. */
export const LIVE_JOB_STATES: ReadonlySet<JobState> = new Set([
  'active',
  'waiting',
  'waiting-children',
  'delayed',
  'prioritized',
]);

/**
 * How the pipeline and the stages enqueue and look up jobs: BullMQ in the services ({@link BullJobQueues}), a
 * synchronous in-memory driver in unit tests. Jobs are added under the id their spec gives, so adding the same
 * work twice while it is live is a no-op.
 */
export interface JobQueues {
  add<T>(spec: JobSpec<T>, data: T): Promise<void>;
  state(queue: QueueName, jobId: string): Promise<JobState>;
  /** Removes a finished job so its id can be used again; removing a missing job is not an error. */
  remove(queue: QueueName, jobId: string): Promise<void>;
}

/** The DI token of the {@link JobQueues} a service uses. */
export const JOB_QUEUES = Symbol('JOB_QUEUES');

/** {@link JobQueues} on the BullMQ queues registered by QueuesModule. */
@Injectable()
export class BullJobQueues implements JobQueues {
  private readonly queues: Record<Exclude<QueueName, 'schedule'>, Queue>;

  constructor(
    @InjectQueue(QUEUES.dump) dump: Queue,
    @InjectQueue(QUEUES.upload) upload: Queue,
    @InjectQueue(QUEUES.verify) verify: Queue,
    @InjectQueue(QUEUES.retention) retention: Queue,
    @InjectQueue(QUEUES.notifier) notifier: Queue,
    @InjectQueue(QUEUES.drill) drill: Queue,
  ) {
    this.queues = { dump, upload, verify, retention, notifier, drill };
  }

  async add<T>(spec: JobSpec<T>, data: T): Promise<void> {
    await this.queue(spec.queue).add(spec.name, data, jobOptions(spec, data));
  }

  async state(queue: QueueName, jobId: string): Promise<JobState> {
    const job = await this.queue(queue).getJob(jobId);
    if (!job) return 'missing';
    return job.getState();
  }

  async remove(queue: QueueName, jobId: string): Promise<void> {
    await this.queue(queue).remove(jobId);
  }

  private queue(name: QueueName): Queue {
    if (name === 'schedule')
      throw new Error('the schedule queue is the scheduler’s own, not a pipeline queue');
    return this.queues[name];
  }
}
