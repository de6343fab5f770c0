import { Module } from '@nestjs/common';
import { RestoreModule } from '@tidemark/restore';
import { DrillHolds } from '@tidemark/retention';
import { BLOB_STORE, type BlobStore } from '@tidemark/storage';
import { BlobDrillReportStore, DRILL_REPORTS } from './drill-report-store';
import { DrillService } from './drill.service';

/** Restore drills, run by the verifier: needs config, storage, catalog, queues (Redis), events and metrics (global). */
@Module({
  imports: [RestoreModule],
  providers: [
    DrillService,
    DrillHolds,
    {
      provide: DRILL_REPORTS,
      inject: [BLOB_STORE],
      useFactory: (store: BlobStore) => new BlobDrillReportStore(store),
    },
  ],
  exports: [DrillService, DRILL_REPORTS],
})
export class DrillsModule {}
