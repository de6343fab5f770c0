import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ReconcilerModule, ServiceRuntimeModule } from '@tidemark/pipeline';
import { SchedulingModule } from '@tidemark/scheduling';
import { ProblemDetailsFilter } from '@tidemark/http-problems';
import { TargetsController } from './targets.controller';
import { TickProcessor } from './tick.processor';

/** The scheduler also runs the reconciler: one pass at a time across its replicas, under a Redis lease. */
@Module({
  imports: [ServiceRuntimeModule.forService('scheduler'), SchedulingModule, ReconcilerModule],
  controllers: [TargetsController],
  providers: [TickProcessor, { provide: APP_FILTER, useClass: ProblemDetailsFilter }],
})
export class SchedulerModule {}
