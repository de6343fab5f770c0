import { Module } from '@nestjs/common';
import { PipelineModule } from '@tidemark/pipeline';
import { CatalogGauges } from './catalog-gauges.service';
import { DrillSchedules } from './drill-schedules.service';
import { QueueDemandController } from './queue-demand.controller';
import { RpoWatchdog } from './rpo-watchdog.service';
import { ScheduleSync } from './schedule-sync.service';

// PipelineModule is the app's own instance (Nest shares a static module): the watchdog reads its dump lock.
@Module({
  imports: [PipelineModule],
  controllers: [QueueDemandController],
  providers: [ScheduleSync, CatalogGauges, RpoWatchdog, DrillSchedules],
  exports: [ScheduleSync, RpoWatchdog, DrillSchedules],
})
export class SchedulingModule {}
