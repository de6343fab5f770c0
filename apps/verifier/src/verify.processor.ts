import { Processor } from '@nestjs/bullmq';
import { Pipeline, StageWorker } from '@tidemark/pipeline';
import { JOBS, parseJob, QUEUES, STAGE_WORKER_SETTINGS } from '@tidemark/queues';
import { VerifyService } from '@tidemark/verification';
import type { Job } from 'bullmq';

@Processor(QUEUES.verify, { concurrency: 1, settings: STAGE_WORKER_SETTINGS })
export class VerifyProcessor extends StageWorker {
  constructor(
    private readonly verifier: VerifyService,
    pipeline: Pipeline,
  ) {
    super('verify', pipeline);
  }

  async process(job: Job): Promise<string> {
    return (await this.verifier.run(parseJob(JOBS.verify, job.data))).status;
  }
}
