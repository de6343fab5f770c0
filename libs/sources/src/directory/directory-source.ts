import { SourceError, type Source, type SourceOptions, type SourceTarget } from '../source';

// Placeholder until the directory source lands; refuses clearly instead of half-working.
export function createDirectorySource(target: SourceTarget, _options: SourceOptions): Source {
  throw new SourceError('unsupported-kind', `source kind "${target.kind}" is not implemented yet`);
}
