import { isUrlDestination, urlDatabaseLabel, type SourceKind } from '@tidemark/source-contract';
import { z } from 'zod';
import { parseMysqlUrl } from './connection';
import { createMysqlSource } from './mysql-source';

export const mysqlKind: SourceKind = {
  name: 'mysql',
  urlDescription: 'MySQL URL',
  settings: z.object({}),
  chains: false,
  formats: [{ format: 'mysqldump-sql', extension: 'sql', restoreCommand: 'mariadb <database>' }],
  parseUrl: parseMysqlUrl,
  databaseLabel: urlDatabaseLabel,
  localBytes: (_format, estimatedBytes) => estimatedBytes,
  restoreTarget: (to) => (isUrlDestination(to) ? { kind: 'mysql', url: to, options: {} } : null),
  create: createMysqlSource,
};
