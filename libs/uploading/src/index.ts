export * from './upload.service';
export * from './uploading.module';
