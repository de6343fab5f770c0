import {
  LIVE_JOB_STATES,
  type JobQueues,
  type JobSpec,
  type JobState,
  type QueueName,
} from '@tidemark/queues';

/** A job as the synchronous driver holds it. */
export interface MemoryJob {
  queue: QueueName;
  name: string;
  id: string;
  data: unknown;
  state: JobState;
  /** Runs so far (a handler call each). */
  attemptsMade: number;
  error?: unknown;
  result?: unknown;
  /** As the spec says: a completed job is removed, so its id can be added again (BullMQ's removeOnComplete). */
  removeOnComplete: boolean;
}

/** Handlers by `<queue>/<job name>`, e.g. `upload/commit`; jobs without one stay waiting. */
export type JobHandlers = Partial<Record<string, (data: unknown, job: MemoryJob) => Promise<unknown>>>;

/**
 * A synchronous queue driver for unit tests (Twenty's sync driver): `add` validates the payload against the job's
 * schema, as BullMQ workers will, and keeps it under its spec's job id (a live duplicate is ignored, as in BullMQ);
 * `drain` runs waiting jobs one at a time, in order, until none is left that has a handler. A job that throws is
 * `failed` with its error (no retries: a test retries by calling {@link retry}).
 */
export class SyncJobQueues implements JobQueues {
  private readonly jobs = new Map<string, MemoryJob>();
  /** Every job ever added (also duplicates that were ignored), in order. */
  readonly added: { queue: QueueName; name: string; id: string; data: unknown }[] = [];

  add<T>(spec: JobSpec<T>, data: T): Promise<void> {
    const parsed = spec.schema.parse(data);
    const id = spec.jobId(parsed);
    this.added.push({ queue: spec.queue, name: spec.name, id, data: parsed });
    const key = `${spec.queue}:${id}`;
    if (!this.jobs.has(key)) {
      this.jobs.set(key, {
        queue: spec.queue,
        name: spec.name,
        id,
        data: parsed,
        state: 'waiting',
        attemptsMade: 0,
        removeOnComplete: spec.options.removeOnComplete === true,
      });
    }
    return Promise.resolve();
  }

  state(queue: QueueName, jobId: string): Promise<JobState> {
    return Promise.resolve(this.jobs.get(`${queue}:${jobId}`)?.state ?? 'missing');
  }

  remove(queue: QueueName, jobId: string): Promise<void> {
    this.jobs.delete(`${queue}:${jobId}`);
    return Promise.resolve();
  }

  /** Jobs (of one queue, or all) in the order they were added. */
  list(queue?: QueueName): MemoryJob[] {
    return [...this.jobs.values()].filter((job) => queue === undefined || job.queue === queue);
  }

  /** Jobs that will still run (waiting, delayed…), in order. */
  live(queue?: QueueName): MemoryJob[] {
    return this.list(queue).filter((job) => LIVE_JOB_STATES.has(job.state));
  }

  /** A failed or finished job waits again, keeping its attempt count. */
  retry(queue: QueueName, jobId: string): void {
    const job = this.jobs.get(`${queue}:${jobId}`);
    if (!job) throw new Error(`no job ${queue}:${jobId}`);
    job.state = 'waiting';
  }

  /** Runs waiting jobs that have a handler until none is left; returns the jobs run, in order. */
  async drain(handlers: JobHandlers, options: { maxJobs?: number } = {}): Promise<MemoryJob[]> {
    const maxJobs = options.maxJobs ?? 1000;
    const ran: MemoryJob[] = [];
    for (;;) {
      const job = this.list().find((j) => j.state === 'waiting' && handlers[`${j.queue}/${j.name}`]);
      if (!job) return ran;
      if (ran.length >= maxJobs) throw new Error(`more than ${maxJobs} jobs: a job keeps enqueueing itself`);
      const handler = handlers[`${job.queue}/${job.name}`] as NonNullable<JobHandlers[string]>;
      job.state = 'active';
      job.attemptsMade += 1;
      try {
        job.result = await handler(job.data, job);
        // A handler may have put its job back (moved to delayed): leave that state alone.
        if (isActive(job)) job.state = 'completed';
        if (job.state === 'completed' && job.removeOnComplete) this.jobs.delete(`${job.queue}:${job.id}`);
      } catch (error) {
        job.error = error;
        job.state = 'failed';
      }
      ran.push(job);
    }
  }
}

/** Read through a call: the handler may have changed the state that the narrowing above still thinks is `active`. */
function isActive(job: MemoryJob): boolean {
  return job.state === 'active';
}
