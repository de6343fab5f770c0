import { Module } from '@nestjs/common';
import { ServiceRuntimeModule } from '@tidemark/pipeline';
import { RetentionModule as RetentionFeatureModule } from '@tidemark/retention';
import { RetentionProcessor } from './retention.processor';

/** Local rotation, GFS pruning and tier moves, on `backup.verified` and on the daily sweep. */
@Module({
  imports: [ServiceRuntimeModule.forService('retention'), RetentionFeatureModule],
  providers: [RetentionProcessor],
})
export class RetentionAppModule {}
