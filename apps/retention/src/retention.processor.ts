import { Processor } from '@nestjs/bullmq';
import { QueueWorker } from '@tidemark/pipeline';
import { JOBS, parseJob } from '@tidemark/queues';
import { RetentionService } from '@tidemark/retention';
import type { Job } from 'bullmq';

/** `{ v: 1 }` (the daily sweep) applies every target; `{ v: 1, targetId }` applies one. */
@Processor('retention')
export class RetentionProcessor extends QueueWorker {
  constructor(private readonly retention: RetentionService) {
    super();
  }

  async process(job: Job): Promise<string> {
    const { targetId } = parseJob(JOBS.retention, job.data);
    const reports = targetId ? [await this.retention.apply(targetId)] : await this.retention.applyAll();
    return reports
      .map((r) =>
        r.skipped
          ? `${r.targetId}: skipped`
          : `${r.targetId}: ${r.deleted.length} deleted, ${r.tiered.length} tiered`,
      )
      .join('; ');
  }
}
