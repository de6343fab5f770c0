export * from './retention-plan';
export * from './retention-retry';
export * from './retention-triggers';
export * from './retention.module';
export * from './retention.service';
