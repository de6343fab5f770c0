export { ArchiverService, type ArchiverServiceOptions, type PhysicalTarget } from './archiver-service';
export { ARCHIVED_TARGETS, ARCHIVER_LOCK_PURPOSE, ArchiverRunner } from './archiver-runner';
export { type ArchivedTarget, archivedTargets, isArchived } from './archiver-targets';
export { archiveCommand, archiveCommandSettings } from './archive-command';
export { ArchivingModule } from './archiving.module';
export { ArchivingError, conninfo, parseTargetUrl, type ReplicationTarget } from './connection';
export {
  ContinuityWatch,
  type ContinuityOutcome,
  type ContinuityWatchOptions,
  MAX_LISTED_PROBLEMS,
  oldestKeptBase,
} from './continuity-watch';
export { ReplicationSlot, slotName } from './replication-slot';
export { SpoolWatcher, type SpoolWatcherOptions } from './spool-watcher';
export {
  type ShippedFile,
  WalReceiver,
  type WalReceiverHooks,
  type WalReceiverOptions,
} from './wal-receiver';
export type { WalSink } from './wal-sink';
export { WalTelemetry, type WalTelemetryOptions } from './wal-telemetry';
