import { Module } from '@nestjs/common';
import { PipelineModule } from '@tidemark/pipeline';
import { ScratchCleaner } from './scratch-cleaner';
import { ScratchLeases } from './scratch-leases';
import { VerifyService } from './verify.service';

@Module({
  imports: [PipelineModule],
  providers: [VerifyService, ScratchLeases, ScratchCleaner],
  exports: [VerifyService],
})
export class VerificationModule {}
