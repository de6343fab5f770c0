import type { SourceKind } from '@tidemark/source-contract';
import { createDirectorySource } from './directory-source';
import { parseDirectoryUrl } from './location';
import { directorySettings } from './settings';

export const directoryKind: SourceKind = {
  name: 'directory',
  urlDescription: 'directory location',
  settings: directorySettings,
  chains: true,
  /** A POSIX tar of files. */
  formats: [
    {
      format: 'tar',
      extension: 'tar',
      restoreCommand:
        'tar -x -C <dir> (an incremental: extract its chain from content.chain.base onwards, keeping for each path the member named by content.files[].in)',
    },
  ],
  parseUrl: parseDirectoryUrl,
  databaseLabel: (url) => url,
  localBytes: (_format, estimatedBytes) => estimatedBytes,
  // A path: the directory to rebuild, never a dump file.
  restoreTarget: (to) => ({ kind: 'directory', url: to, options: {} }),
  create: createDirectorySource,
};
