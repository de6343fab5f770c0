import { Module } from '@nestjs/common';
import { DrillHolds } from './drill-holds';
import { RetentionPlanner } from './retention-plan';
import { RetentionRetry } from './retention-retry';
import { RetentionTriggers } from './retention-triggers';
import { RetentionLock, RetentionService } from './retention.service';

/** What retention would do, read from Blob Storage and the local tier only: needs config and storage (global). */
@Module({
  providers: [RetentionPlanner],
  exports: [RetentionPlanner],
})
export class RetentionPlanModule {}

/**
 * Applying retention, under the per-target lock, publishing its event: needs config, storage, catalog, queues
 * (Redis), events and metrics (global). Starts nothing: the CLI's `retention apply` runs on it.
 */
@Module({
  imports: [RetentionPlanModule],
  providers: [RetentionLock, RetentionService, DrillHolds],
  exports: [RetentionPlanModule, RetentionService, DrillHolds],
})
export class RetentionApplyModule {}

/** The retention service's: applying, plus its triggers and retries. Needs the ServiceRuntimeModule's global modules. */
@Module({
  imports: [RetentionApplyModule],
  providers: [RetentionRetry, RetentionTriggers],
  exports: [RetentionApplyModule, RetentionRetry],
})
export class RetentionModule {}
