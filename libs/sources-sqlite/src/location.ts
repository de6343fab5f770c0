import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceError } from '@tidemark/source-contract';

const EXPECTED = 'expected a file path, sqlite:///absolute/path.db or file:///absolute/path.db';
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * The absolute path of the database file a target's URL names: a plain path (relative paths are taken from
 * `cwd`), `sqlite:///abs/path.db` or `file:///abs/path.db` (percent-escapes decoded).
 */
export function parseSqliteLocation(url: string, cwd: string = process.cwd()): string {
  const invalid = (reason: string): SourceError =>
    new SourceError('invalid-url', `invalid SQLite location "${url}": ${reason}`);
  const text = url.trim();
  if (text === '') throw invalid(EXPECTED);
  if (text === ':memory:' || /^file::memory:/i.test(text))
    throw invalid('an in-memory database has nothing to back up');
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  let path: string;
  if (scheme === undefined) {
    path = resolve(cwd, text);
  } else if (scheme === 'sqlite' || scheme === 'file') {
    path = fromUrl(`file:${text.slice(scheme.length + 1)}`, invalid);
  } else {
    throw invalid(EXPECTED);
  }
  if (text.endsWith('/')) throw invalid('names a directory, not a database file');
  return path;
}

function fromUrl(text: string, invalid: (reason: string) => SourceError): string {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw invalid(EXPECTED);
  }
  // sqlite://data/app.db would silently mean host "data"; only an empty (or local) host is a path on this machine.
  if (parsed.host !== '' && parsed.host !== 'localhost')
    throw invalid('the path must be absolute (three slashes: sqlite:///path/to/file.db)');
  if (parsed.search !== '' || parsed.hash !== '')
    throw invalid('query strings and fragments are not supported');
  let path: string;
  try {
    path = fileURLToPath(parsed);
  } catch (err) {
    throw invalid(err instanceof Error ? err.message : String(err));
  }
  if (!isAbsolute(path)) throw invalid(EXPECTED);
  return path;
}
