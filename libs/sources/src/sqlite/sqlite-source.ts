import { SourceError, type Source, type SourceOptions, type SourceTarget } from '../source';

// Placeholder until the sqlite source lands; refuses clearly instead of half-working.
export function createSqliteSource(target: SourceTarget, _options: SourceOptions): Source {
  throw new SourceError('unsupported-kind', `source kind "${target.kind}" is not implemented yet`);
}
