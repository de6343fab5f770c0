import { Processor } from '@nestjs/bullmq';
import { Pipeline, StageWorker } from '@tidemark/pipeline';
import { InvalidJobError, JOBS, parseJob, QUEUES, STAGE_WORKER_SETTINGS } from '@tidemark/queues';
import { UploadService } from '@tidemark/uploading';
import { DelayedError, type Job } from 'bullmq';

/** Two part jobs at once per replica, each staging 4 blocks of 8 MiB: about 64 MiB of buffers at most. */
@Processor(QUEUES.upload, { concurrency: 2, settings: STAGE_WORKER_SETTINGS })
export class UploadProcessor extends StageWorker {
  constructor(
    private readonly uploads: UploadService,
    pipeline: Pipeline,
  ) {
    super('upload', pipeline);
  }

  async process(job: Job, token?: string): Promise<string> {
    if (job.name === JOBS.uploadPart.name) return this.uploads.stagePart(parseJob(JOBS.uploadPart, job.data));
    if (job.name !== JOBS.uploadCommit.name)
      throw new InvalidJobError(`invalid upload job: unknown job name "${job.name}"`);
    const outcome = await this.uploads.commit(parseJob(JOBS.uploadCommit, job.data));
    if (outcome.status === 'waiting') {
      // Parts are still being staged by their own jobs: look again shortly (this does not use up an attempt).
      await job.moveToDelayed(Date.now() + 250, token);
      throw new DelayedError();
    }
    return outcome.status;
  }

  /** A part job that gives up is not the end: the commit job stages whatever is missing itself. */
  protected override failsBackup(job: Job): boolean {
    return job.name === JOBS.uploadCommit.name;
  }
}
