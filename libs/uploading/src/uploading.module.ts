import { Module } from '@nestjs/common';
import { PipelineModule } from '@tidemark/pipeline';
import { UploadService } from './upload.service';

@Module({ imports: [PipelineModule], providers: [UploadService], exports: [UploadService] })
export class UploadingModule {}
