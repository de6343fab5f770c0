export { AzureBlobStore, STORAGE_RETRY_OPTIONS } from './azure-blob-store';
export type {
  BlobDownload,
  BlobListItem,
  BlobProperties,
  BlobStore,
  CommitOptions,
  ImmutabilityMode,
  ImmutabilityPolicy,
  RehydratePriority,
  WriteCondition,
} from './blob-store';
export { createBlobStore } from './create-blob-store';
export type { CreateBlobStoreOptions } from './create-blob-store';
export { LocalTier } from './local-tier';
// The Azure SDK's error mapper lives in libs/azure-blob-sdk (shared with the azure-blob source kind).
export {
  isNetworkErrorCode,
  isStorageError,
  STORAGE_ERROR_CODES,
  StorageError,
  type StorageErrorCode,
} from '@tidemark/azure-blob-sdk';
export { BLOB_STORE, BlobStorageModule, LOCAL_TIER, StorageModule } from './storage.module';
export { checkContainerProtection, type ContainerProtectionFinding } from './container-protection';
