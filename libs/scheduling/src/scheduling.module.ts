import { Module } from '@nestjs/common';
import { CatalogGauges } from './catalog-gauges.service';
import { ScheduleSync } from './schedule-sync.service';

@Module({ providers: [ScheduleSync, CatalogGauges], exports: [ScheduleSync] })
export class SchedulingModule {}
