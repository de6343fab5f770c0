import { Module } from '@nestjs/common';
import { PointInTimeRestoreService } from './point-in-time';
import { RestoreService } from './restore.service';

/** Restoring from Blob Storage: needs config, storage, catalog and events (global); never Redis by itself. */
@Module({
  providers: [RestoreService, PointInTimeRestoreService],
  exports: [RestoreService, PointInTimeRestoreService],
})
export class RestoreModule {}
