import { Module } from '@nestjs/common';
import { PendingFailures } from './pending-failures';
import { Pipeline } from './pipeline.service';
import { TargetLock } from './target-lock';

/** Needs QueuesModule, EventsModule, ObservabilityModule and StorageModule (all global) in the app. */
@Module({
  providers: [Pipeline, TargetLock, PendingFailures],
  exports: [Pipeline, TargetLock, PendingFailures],
})
export class PipelineModule {}
