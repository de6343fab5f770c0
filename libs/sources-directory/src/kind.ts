import { TAR_ARTIFACT, type SourceKind } from '@tidemark/source-contract';
import { createDirectorySource } from './directory-source';
import { parseDirectoryUrl } from './location';
import { directorySettings } from './settings';

export const directoryKind: SourceKind = {
  name: 'directory',
  urlDescription: 'directory location',
  settings: directorySettings,
  chains: true,
  /** A POSIX tar of files. */
  formats: [TAR_ARTIFACT],
  parseUrl: parseDirectoryUrl,
  databaseLabel: (url) => url,
  localBytes: (_format, estimatedBytes) => estimatedBytes,
  // A path: the directory to rebuild, never a dump file.
  restoreTarget: (to) => ({ kind: 'directory', url: to, options: {} }),
  create: createDirectorySource,
};
