export * from './drills.module';
export * from './drill.service';
export * from './drill-report';
export * from './drill-report-store';
export * from './drill-names';
export * from './pick';
export * from './scratch-copy';
export { runAssertions } from './assertions';
