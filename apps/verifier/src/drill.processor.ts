import { Processor } from '@nestjs/bullmq';
import { DrillService, drillIdFor } from '@tidemark/drills';
import { QueueWorker } from '@tidemark/pipeline';
import { JOBS, parseJob, QUEUES } from '@tidemark/queues';
import type { Job } from 'bullmq';

/** One drill at a time: a drill is a full restore, and its timings are the evidence. */
@Processor(QUEUES.drill, { concurrency: 1 })
export class DrillProcessor extends QueueWorker {
  constructor(private readonly drills: DrillService) {
    super();
  }

  async process(job: Job): Promise<string> {
    const data = parseJob(JOBS.drill, job.data);
    // A scheduled drill's template names no drill: the tick's own job (the same on a retry) does.
    const drillId = data.drillId ?? drillIdFor(job.id ?? job.name, new Date(job.timestamp));
    const reports = await this.drills.run({ targetId: data.targetId, backupId: data.backupId, drillId });
    return reports.map((report) => `${report.drillId}: ${report.result}`).join(', ');
  }
}
