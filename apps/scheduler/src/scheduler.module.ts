import { Module } from '@nestjs/common';
import { ServiceRuntimeModule } from '@tidemark/pipeline';
import { SchedulingModule } from '@tidemark/scheduling';
import { TargetsController } from './targets.controller';
import { TickProcessor } from './tick.processor';

@Module({
  imports: [ServiceRuntimeModule.forService('scheduler'), SchedulingModule],
  controllers: [TargetsController],
  providers: [TickProcessor],
})
export class SchedulerModule {}
