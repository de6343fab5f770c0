export { formatLsn, isLsn, type Lsn, parseLsn, WalNameError } from './lsn';
export {
  checkSegmentBytes,
  DEFAULT_SEGMENT_BYTES,
  historyFileName,
  parseHistoryFileName,
  parseSegmentFileName,
  segmentFileName,
  segmentOf,
  segmentRange,
  segmentStart,
  type SegmentName,
  type Timeline,
  timelineName,
} from './segments';
export { parseTimelineHistory, timelineAt, type TimelineSwitch } from './history';
export {
  historyBlobName,
  type ParsedWalBlob,
  parseWalBlobName,
  PARTIAL_SUFFIX,
  partialBlobName,
  readWalBlobMetadata,
  segmentBlobName,
  WAL_DIRECTORY,
  WAL_AGE_SUFFIX,
  WAL_EXTENSION,
  walBlobMetadata,
  type WalBlobMetadata,
  walBlobMetadataSchema,
  type WalFileKind,
  walPrefix,
  walTimelinePrefix,
} from './wal-blobs';
export { type PhysicalBackup, physicalBackupSchema } from './physical';
export {
  type ArchivedWal,
  type ArchiveState,
  type BaseBackupPoint,
  planRecovery,
  type Reach,
  reachOf,
  type RecoveryPlan,
  RecoveryRefused,
  type RecoveryTarget,
  recoveryWindows,
} from './recovery-plan';
