import { DefaultAzureCredential } from '@azure/identity';
import { environmentOf, type RawEnvironment } from '@tidemark/environment';
import { AzureBlobStore } from './azure-blob-store';
import type { BlobStore } from './blob-store';
import { StorageError } from '@tidemark/azure-blob-sdk';

export interface CreateBlobStoreOptions {
  container: string;
  /** Defaults to the environment read at start. */
  env?: RawEnvironment;
}

/**
 * The store for this deployment: a connection string (Azurite, keys or SAS) when given, otherwise the
 * account URL with DefaultAzureCredential (workload identity on AKS, managed identity on a VM).
 */
export function createBlobStore(options: CreateBlobStoreOptions): BlobStore {
  const env = environmentOf(options.env);
  const connectionString = env.AZURE_STORAGE_CONNECTION_STRING;
  if (connectionString) return AzureBlobStore.fromConnectionString(connectionString, options.container);
  const accountUrl = env.AZURE_STORAGE_ACCOUNT_URL;
  if (accountUrl)
    return AzureBlobStore.fromAccountUrl(accountUrl, new DefaultAzureCredential(), options.container);
  throw new StorageError(
    'not-configured',
    'no Blob Storage configured: set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL',
  );
}
