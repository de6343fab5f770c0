import { Inject } from '@nestjs/common';
import { Processor } from '@nestjs/bullmq';
import { NOTIFIER, type Notifier } from '@tidemark/notifying';
import { QueueWorker } from '@tidemark/pipeline';
import { JOBS, parseJob, QUEUES } from '@tidemark/queues';
import type { Job } from 'bullmq';

/** `{ v: 1, route }`: the digest of route `route` is due (its job scheduler `notifier:digest:<route>`). */
@Processor(QUEUES.notifier)
export class NotifierProcessor extends QueueWorker {
  constructor(@Inject(NOTIFIER) private readonly notifier: Notifier | null) {
    super();
  }

  async process(job: Job): Promise<string> {
    const { route } = parseJob(JOBS.notifierDigest, job.data);
    if (!this.notifier) return 'no notifications configured';
    const sent = await this.notifier.sendDigest(route, job.id ?? job.name);
    return `digest of route ${route}: sent to ${sent.sent.join(', ') || 'none'}, failed ${sent.failed.join(', ') || 'none'}`;
  }
}
