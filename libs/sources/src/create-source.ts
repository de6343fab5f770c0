import { PostgresSource } from './postgres/postgres-source';
import { SourceError, type Source, type SourceOptions, type SourceTarget } from './source';

// Each database kind registers its constructor here; the rest of Tidemark only sees Source.
const FACTORIES: Record<string, (url: string, options: SourceOptions) => Source> = {
  postgres: (url, options) => new PostgresSource(url, options),
  postgresql: (url, options) => new PostgresSource(url, options),
};

export const SOURCE_KINDS: readonly string[] = ['postgres'];

export function createSource(target: SourceTarget, options: SourceOptions = {}): Source {
  const factory = Object.hasOwn(FACTORIES, target.kind) ? FACTORIES[target.kind] : undefined;
  if (!factory) {
    throw new SourceError(
      'unsupported-kind',
      `unsupported source kind "${target.kind}" (supported: ${SOURCE_KINDS.join(', ')})`,
    );
  }
  return factory(target.url, options);
}
