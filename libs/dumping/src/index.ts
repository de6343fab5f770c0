export * from './dump.service';
export * from './dumping.module';
