export * from './restore.module';
export * from './restore.service';
