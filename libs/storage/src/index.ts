export { AzureBlobStore, STORAGE_RETRY_OPTIONS } from './azure-blob-store';
export type {
  BlobDownload,
  BlobListItem,
  BlobProperties,
  BlobStore,
  CommitOptions,
  RehydratePriority,
  WriteCondition,
} from './blob-store';
export { createBlobStore } from './create-blob-store';
export type { CreateBlobStoreOptions } from './create-blob-store';
export { LocalTier } from './local-tier';
export { STORAGE_ERROR_CODES, StorageError, isNetworkErrorCode, isStorageError } from './storage-error';
export type { StorageErrorCode } from './storage-error';
export { BLOB_STORE, BlobStorageModule, LOCAL_TIER, StorageModule } from './storage.module';
