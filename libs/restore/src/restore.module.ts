import { Module } from '@nestjs/common';
import { RestoreService } from './restore.service';

/** Restoring from Blob Storage: needs config, storage, catalog and events (global); never Redis by itself. */
@Module({
  providers: [RestoreService],
  exports: [RestoreService],
})
export class RestoreModule {}
