import { Module } from '@nestjs/common';
import { ArchivingModule } from '@tidemark/archiving';
import { ServiceRuntimeModule } from '@tidemark/pipeline';

/** Continuous WAL archiving of every physical target: one replica streams each, under a lease in Redis. */
@Module({
  imports: [ServiceRuntimeModule.forService('archiver'), ArchivingModule],
})
export class ArchiverModule {}
