import { SourceError } from './source';

/** The same server URL pointing at another database: credentials, host and query are kept. */
export function withDatabase(url: string, database: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SourceError('invalid-url', 'the target url is not a valid URL');
  }
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}
