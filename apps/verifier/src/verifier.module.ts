import { Module } from '@nestjs/common';
import { DrillsModule } from '@tidemark/drills';
import { ServiceRuntimeModule } from '@tidemark/pipeline';
import { VerificationModule } from '@tidemark/verification';
import { DrillProcessor } from './drill.processor';
import { VerifyProcessor } from './verify.processor';

@Module({
  imports: [ServiceRuntimeModule.forService('verifier'), VerificationModule, DrillsModule],
  providers: [VerifyProcessor, DrillProcessor],
})
export class VerifierModule {}
