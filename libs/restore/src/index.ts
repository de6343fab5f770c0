export {
  describeRecoveryTarget,
  PointInTimeRestoreService,
  type PointInTimeRequest,
  type PointInTimeResult,
  type RecoveryPlanned,
} from './point-in-time';
export * from './restore.module';
export * from './restore.service';
export { WalFetcher } from './wal-supply';
