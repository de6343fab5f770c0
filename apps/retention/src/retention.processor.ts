import { Processor } from '@nestjs/bullmq';
import { QueueWorker } from '@tidemark/pipeline';
import { JOBS, parseJob, QUEUES } from '@tidemark/queues';
import { RetentionRetry } from '@tidemark/retention';
import type { Job } from 'bullmq';

/**
 * `{ v: 1 }` (the daily sweep) applies every target; `{ v: 1, targetId }` applies one. A target whose lock another
 * run holds is retried later through this queue.
 */
@Processor(QUEUES.retention)
export class RetentionProcessor extends QueueWorker {
  constructor(private readonly retention: RetentionRetry) {
    super();
  }

  async process(job: Job): Promise<string> {
    const reports = await this.retention.run(job.id, parseJob(JOBS.retention, job.data));
    return reports
      .map((r) =>
        r.skipped
          ? `${r.targetId}: busy, retried later`
          : `${r.targetId}: ${r.deleted.length} deleted, ${r.tiered.length} tiered`,
      )
      .join('; ');
  }
}
