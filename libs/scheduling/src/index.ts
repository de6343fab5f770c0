export * from './catalog-gauges.service';
export * from './missed-ticks';
export * from './overdue';
export * from './queue-demand.controller';
export * from './rpo-watchdog.service';
export * from './schedule-sync.service';
export * from './scheduling.module';
export * from './drill-schedules.service';
