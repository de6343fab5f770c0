import { environmentOf, type RawEnvironment } from '@tidemark/environment';
import { AzureBlobStore } from './azure-blob-store';
import type { BlobStore } from './blob-store';
import { StorageError } from '@tidemark/azure-blob-sdk';

// @azure/identity (~6 MiB of RSS) loads only for an account URL: with a connection string it is never needed.
/* eslint-disable @typescript-eslint/no-require-imports */
const identitySdk = (): typeof import('@azure/identity') =>
  require('@azure/identity') as typeof import('@azure/identity');
/* eslint-enable @typescript-eslint/no-require-imports */

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
    return AzureBlobStore.fromAccountUrl(
      accountUrl,
      new (identitySdk().DefaultAzureCredential)(),
      options.container,
    );
  throw new StorageError(
    'not-configured',
    'no Blob Storage configured: set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL',
  );
}
