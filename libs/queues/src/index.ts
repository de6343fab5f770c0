export * from './jobs';
export * from './job-queues';
export * from './parse-job';
export * from './queues.module';
export * from './redis';
export * from './redis-lock';
export * from './queue-prefix';
export * from './eviction-policy';
