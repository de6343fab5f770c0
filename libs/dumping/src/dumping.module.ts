import { Module } from '@nestjs/common';
import { PipelineModule } from '@tidemark/pipeline';
import { DumpService } from './dump.service';

@Module({ imports: [PipelineModule], providers: [DumpService], exports: [DumpService] })
export class DumpingModule {}
