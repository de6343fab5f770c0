import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { environmentOf, type RawEnvironment } from '@tidemark/environment';
import { JOBS, QUEUES, type RetentionJob } from '@tidemark/queues';
import type { Queue } from 'bullmq';
import { RetentionService, type RetentionReport } from './retention.service';

export const RETENTION_RETRY_DELAY = Symbol('RETENTION_RETRY_DELAY');

/** Delay of the first retry of a target whose lock was held (TIDEMARK_RETENTION_RETRY_MS, default 60 s). */
export function retentionRetryDelayMs(raw?: RawEnvironment): number {
  return environmentOf(raw).TIDEMARK_RETENTION_RETRY_MS;
}

/** One retry job per target: triggers that meet the same held lock coalesce into it. */
export function retentionRetryJobId(targetId: string): string {
  return `retention-retry-${targetId}`;
}

/** The retry job itself met the lock again: thrown so BullMQ runs it again after its backoff. */
export class RetentionTargetBusyError extends Error {
  override readonly name = 'RetentionTargetBusyError';
  constructor(
    readonly targetId: string,
    holder: string,
  ) {
    super(`retention of ${targetId} is still held by ${holder}: retried later`);
  }
}

/**
 * Retention that never drops a trigger: a run that meets another run's lock on its target is retried through the
 * `retention` queue (a delayed job per target, so triggers coalesce), not skipped and not waited for in a loop.
 */
@Injectable()
export class RetentionRetry {
  private readonly logger = new Logger(RetentionRetry.name);
  private readonly delayMs: number;

  constructor(
    private readonly retention: RetentionService,
    @InjectQueue(QUEUES.retention) private readonly queue: Queue,
    @Optional() @Inject(RETENTION_RETRY_DELAY) delayMs?: number,
  ) {
    this.delayMs = delayMs ?? retentionRetryDelayMs();
  }

  /** Runs a retention job: the daily sweep (every target) or one target. */
  async run(jobId: string | undefined, job: RetentionJob): Promise<RetentionReport[]> {
    if (!job.targetId) {
      const reports = await this.retention.applyAll();
      for (const report of reports) if (report.skipped) await this.later(report.targetId);
      return reports;
    }
    const report = await this.retention.apply(job.targetId);
    if (report.skipped) {
      // The retry job cannot add itself again while it runs: its own backoff brings it back.
      if (jobId === retentionRetryJobId(job.targetId))
        throw new RetentionTargetBusyError(job.targetId, report.skipped.holder);
      await this.later(job.targetId);
    }
    return [report];
  }

  /** Queues the target's retry job unless one is already waiting (BullMQ ignores a second job with the same id). */
  async later(targetId: string): Promise<void> {
    const data: RetentionJob = { v: 1, targetId };
    await this.queue.add(JOBS.retention.name, data, {
      jobId: retentionRetryJobId(targetId),
      delay: this.delayMs,
      attempts: 10,
      backoff: { type: 'exponential', delay: this.delayMs },
      // Gone once finished, so the next held lock can queue a retry again.
      removeOnComplete: true,
      removeOnFail: true,
    });
    this.logger.log(
      { targetId, retryInMs: this.delayMs },
      'retention of this target is running elsewhere: retried later',
    );
  }
}
