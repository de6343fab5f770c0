import { createAzureBlobSource } from './azure-blob/azure-blob-source';
import { createDirectorySource } from './directory/directory-source';
import { createMysqlSource } from './mysql/mysql-source';
import { PostgresGlobalsSource } from './postgres/globals-source';
import { PostgresSource } from './postgres/postgres-source';
import { SourceError, type Source, type SourceOptions, type SourceTarget } from './source';
import { createSqliteSource } from './sqlite/sqlite-source';

// Each kind registers its constructor here; the rest of Tidemark only sees Source.
const FACTORIES: Record<string, (target: SourceTarget, options: SourceOptions) => Source> = {
  postgres: (target, options) =>
    target.options?.globalsOnly
      ? new PostgresGlobalsSource(target.url, options)
      : new PostgresSource(target.url, { ...options, settings: target.options }),
  mysql: createMysqlSource,
  sqlite: createSqliteSource,
  directory: createDirectorySource,
  'azure-blob': createAzureBlobSource,
};

export const SOURCE_KINDS: readonly string[] = Object.keys(FACTORIES);

export function createSource(target: SourceTarget, options: SourceOptions = {}): Source {
  const factory = Object.hasOwn(FACTORIES, target.kind) ? FACTORIES[target.kind] : undefined;
  if (!factory) {
    throw new SourceError(
      'unsupported-kind',
      `unsupported source kind "${target.kind}" (supported: ${SOURCE_KINDS.join(', ')})`,
    );
  }
  return factory(target, options);
}
