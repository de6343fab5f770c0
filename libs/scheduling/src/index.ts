export * from './catalog-gauges.service';
export * from './schedule-sync.service';
export * from './scheduling.module';
