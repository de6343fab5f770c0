import { Module } from '@nestjs/common';
import { DumpingModule } from '@tidemark/dumping';
import { ServiceRuntimeModule } from '@tidemark/pipeline';
import { DumpProcessor } from './dump.processor';

@Module({ imports: [ServiceRuntimeModule.forService('dumper'), DumpingModule], providers: [DumpProcessor] })
export class DumperModule {}
