export {
  type ArchivedWalFile,
  type CommitHistoryInput,
  type CommitResult,
  type CommitSegmentInput,
  type ShipPartialInput,
  WalArchive,
  type WalArchiveOptions,
  type WalRoute,
} from './wal-archive';
export type { ContinuityOptions, ContinuityProblem, ContinuityReport } from './continuity';
export { WalArchiveError, type WalArchiveErrorCode } from './wal-archive-error';
export { WAL_BLOCK_SIZE } from './streams';
