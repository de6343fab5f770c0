export * from './pipeline.module';
export * from './pipeline.service';
export * from './pending-failures';
export * from './reconciler';
export * from './target-lock';
export * from './service-runtime.module';
export * from './stage-worker';
