import { Processor } from '@nestjs/bullmq';
import { DumpService } from '@tidemark/dumping';
import { Pipeline, StageWorker } from '@tidemark/pipeline';
import { JOBS, parseJob, QUEUES, STAGE_WORKER_SETTINGS } from '@tidemark/queues';
import { DelayedError, type Job } from 'bullmq';

/** One dump at a time per replica: a dump already keeps a core busy with the tool and one with compression. */
@Processor(QUEUES.dump, { concurrency: 1, settings: STAGE_WORKER_SETTINGS })
export class DumpProcessor extends StageWorker {
  constructor(
    private readonly dumps: DumpService,
    pipeline: Pipeline,
  ) {
    super('dump', pipeline);
  }

  async process(job: Job, token?: string): Promise<string> {
    const outcome = await this.dumps.run(parseJob(JOBS.dump, job.data), job.attemptsMade + 1);
    if (outcome.status === 'busy') {
      // Another backup of this target is dumping: wait for it rather than run two at once.
      await job.moveToDelayed(Date.now() + 5000, token);
      throw new DelayedError();
    }
    if (outcome.status === 'interrupted') {
      // Stopped by a shutdown: back to the queue at once, for another replica or this one once restarted.
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    return outcome.status;
  }
}
