export { ArchiverService, type ArchiverServiceOptions, type PhysicalTarget } from './archiver-service';
export { ArchivingError, conninfo, parseTargetUrl, type ReplicationTarget } from './connection';
export { ReplicationSlot, slotName } from './replication-slot';
export {
  type ShippedFile,
  WalReceiver,
  type WalReceiverHooks,
  type WalReceiverOptions,
} from './wal-receiver';
export type { WalSink } from './wal-sink';
