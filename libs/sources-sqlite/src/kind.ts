import type { SourceKind } from '@tidemark/source-contract';
import { z } from 'zod';
import { parseSqliteLocation } from './location';
import { createSqliteSource } from './sqlite-source';

export const sqliteKind: SourceKind = {
  name: 'sqlite',
  urlDescription: 'SQLite location',
  settings: z.object({}),
  chains: false,
  /** A consistent copy of an SQLite database file. */
  formats: [
    {
      format: 'sqlite-db',
      extension: 'sqlite',
      restoreCommand: 'cat > <file.db> (first remove any old <file.db>-wal, -shm or -journal)',
    },
  ],
  parseUrl: (url) => parseSqliteLocation(url),
  databaseLabel: (url) => url,
  // The consistent copy is staged in the work directory before the compressed parts are written.
  localBytes: (_format, estimatedBytes) => estimatedBytes * 2,
  // A path: the database file to create (or, with --clean, replace), never a dump file.
  restoreTarget: (to) => ({ kind: 'sqlite', url: to, options: {} }),
  create: createSqliteSource,
};
