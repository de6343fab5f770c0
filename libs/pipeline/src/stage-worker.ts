import { OnWorkerEvent, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import type { Stage } from '@tidemark/manifest';
import { finalFailureOf } from '@tidemark/queues';
import type { Job } from 'bullmq';
import { Pipeline } from './pipeline.service';

/** A worker of one pipeline stage: when a job fails for the last time, the pipeline records the backup as failed. */
export abstract class StageWorker extends WorkerHost {
  protected readonly logger = new Logger(this.constructor.name);

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

  @OnWorkerEvent('failed')
  async onFailed(job: Job | undefined, error: Error): Promise<void> {
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
        `could not record the failed ${this.stage}`,
      );
    }
  }
}
