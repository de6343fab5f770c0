import { Module } from '@nestjs/common';
import { ServiceRuntimeModule } from '@tidemark/pipeline';
import { VerificationModule } from '@tidemark/verification';
import { VerifyProcessor } from './verify.processor';

@Module({
  imports: [ServiceRuntimeModule.forService('verifier'), VerificationModule],
  providers: [VerifyProcessor],
})
export class VerifierModule {}
