import { Processor } from '@nestjs/bullmq';
import { Pipeline, QueueWorker } from '@tidemark/pipeline';
import { JOBS, parseJob, QUEUES } from '@tidemark/queues';
import type { Job } from 'bullmq';

/** A cron tick of one target's schedule: the same trigger as the CLI and REST, coalesced while a dump runs. */
@Processor(QUEUES.schedule)
export class TickProcessor extends QueueWorker {
  constructor(private readonly pipeline: Pipeline) {
    super();
  }

  async process(job: Job): Promise<string> {
    const { targetId } = parseJob(JOBS.tick, job.data);
    const result = await this.pipeline.request(targetId, 'schedule');
    return result.coalesced ? `coalesced into ${result.backupId}` : result.backupId;
  }
}
