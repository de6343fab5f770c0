import { OnWorkerEvent, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import type { Stage } from '@tidemark/manifest';
import { finalFailureOf, InvalidJobError } from '@tidemark/queues';
import type { Job } from 'bullmq';
import { Pipeline } from './pipeline.service';

/**
 * A worker of any queue: a job whose payload is not one this service reads is failed at once by `parseJob`, and
 * logged here with its reason; the worker goes on with the next job.
 */
export abstract class QueueWorker extends WorkerHost {
  protected readonly logger = new Logger(this.constructor.name);

  @OnWorkerEvent('failed')
  async onFailed(job: Job | undefined, error: Error): Promise<void> {
    if (error instanceof InvalidJobError) {
      this.logger.error(
        { queue: job?.queueName, job: job?.id, name: job?.name, reason: error.message },
        'rejected a job that is not valid input: failed without retries',
      );
      return;
    }
    await this.onJobFailed(job, error);
  }

  protected onJobFailed(_job: Job | undefined, _error: Error): Promise<void> {
    return Promise.resolve();
  }
}

/** A worker of one pipeline stage: when a job fails for the last time, the pipeline records the backup as failed. */
export abstract class StageWorker extends QueueWorker {
  protected constructor(
    private readonly stage: Stage,
    protected readonly pipeline: Pipeline,
  ) {
    super();
  }

  /** Whether this job's last failure fails the whole backup (a stage may heal some failures itself). */
  protected failsBackup(_job: Job): boolean {
    return true;
  }

  protected override async onJobFailed(job: Job | undefined, error: Error): Promise<void> {
    const failure = finalFailureOf(job, error);
    if (!job || !failure) return;
    if (!this.failsBackup(job)) {
      this.logger.warn({ ...failure, job: job.id, err: error.message }, 'job gave up; the stage recovers it');
      return;
    }
    try {
      await this.pipeline.failed(this.stage, failure, error, failure.attempts);
    } catch (recordError) {
      this.logger.error(
        { ...failure, err: String(recordError) },
        `could not record the failed ${this.stage}; the reconciler will find the backup stuck`,
      );
    }
  }
}
