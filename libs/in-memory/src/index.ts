export { MemoryBlobStore, type BlobOperation, type MemoryBlobStoreOptions } from '@tidemark/testing-storage';
export { MemoryEventBus } from './memory-event-bus';
export { MemoryLock } from './memory-lock';
export { MemoryPendingFailures } from './memory-pending-failures';
export { SyncJobQueues, type JobHandlers, type MemoryJob } from './sync-job-queues';
export { StageHarness } from './stage-harness';
