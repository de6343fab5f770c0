import { isUrlDestination, TAR_ARTIFACT, urlDatabaseLabel, type SourceKind } from '@tidemark/source-contract';
import { z } from 'zod';
import { createAzureBlobSource } from './azure-blob-source';
import { parseContainerTarget } from './container-url';

export const azureBlobKind: SourceKind = {
  name: 'azure-blob',
  urlDescription: 'azure-blob container URL or connection string',
  settings: z.object({}),
  chains: true,
  /** A POSIX tar of the container's blobs by name. */
  formats: [TAR_ARTIFACT],
  parseUrl: parseContainerTarget,
  databaseLabel: urlDatabaseLabel,
  localBytes: (_format, estimatedBytes) => estimatedBytes,
  // A container URL or a connection string names the container to rebuild; anything else is a file to write.
  restoreTarget: (to) =>
    isUrlDestination(to) || to.includes('AccountName=') ? { kind: 'azure-blob', url: to, options: {} } : null,
  create: createAzureBlobSource,
};
