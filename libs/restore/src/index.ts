export * from './restore.service';
