import { Module } from '@nestjs/common';
import { ServiceRuntimeModule } from '@tidemark/pipeline';

/**
 * The retention service's process: health, readiness, metrics, config, queues and catalog. Applying retention
 * policies is its own capability (issue: retention and tiering) and plugs in here as a processor.
 */
@Module({ imports: [ServiceRuntimeModule.forService('retention')] })
export class RetentionModule {}
