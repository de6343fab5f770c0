import { Module } from '@nestjs/common';
import { Pipeline } from './pipeline.service';
import { TargetLock } from './target-lock';

/** Needs QueuesModule, EventsModule, ObservabilityModule and StorageModule (all global) in the app. */
@Module({ providers: [Pipeline, TargetLock], exports: [Pipeline, TargetLock] })
export class PipelineModule {}
