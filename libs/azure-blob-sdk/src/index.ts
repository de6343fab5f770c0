// What every caller of the Azure Blob SDK shares: one error mapper and one block stager (MD5 on every block).
export { stageBlock } from './stage-block';
export {
  errorReason,
  isNetworkErrorCode,
  isStorageError,
  serviceFailure,
  STORAGE_ERROR_CODES,
  StorageError,
  toStorageError,
  type ErrorContext,
  type StorageErrorCode,
} from './storage-error';
