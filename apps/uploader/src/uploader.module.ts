import { Module } from '@nestjs/common';
import { ServiceRuntimeModule } from '@tidemark/pipeline';
import { UploadingModule } from '@tidemark/uploading';
import { UploadProcessor } from './upload.processor';

@Module({
  imports: [ServiceRuntimeModule.forService('uploader'), UploadingModule],
  providers: [UploadProcessor],
})
export class UploaderModule {}
