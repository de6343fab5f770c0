import { Module } from '@nestjs/common';
import { ScratchCleaner } from './scratch-cleaner';
import { ScratchLeases } from './scratch-leases';
import { VerifyService } from './verify.service';

@Module({ providers: [VerifyService, ScratchLeases, ScratchCleaner], exports: [VerifyService] })
export class VerificationModule {}
