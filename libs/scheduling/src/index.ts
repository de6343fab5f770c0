export * from './catalog-gauges.service';
export * from './overdue';
export * from './rpo-watchdog.service';
export * from './schedule-sync.service';
export * from './scheduling.module';
