import { SourceError, type SourceOptions } from '@tidemark/source-contract';
import { parsePostgresUrl } from './connection';
import { PgContext } from './context';

// scheme://authority, then the path (the database), the query and a fragment; the authority ends at the first / ? #.
const URL_PARTS = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?(\?[^#]*)?(#.*)?$/i;

/** The URL with its database replaced by `name`; credentials, host and query parameters are kept as written. */
export function withDatabase(url: string, name: string): string {
  const parts = URL_PARTS.exec(url);
  // Not echoed: without the scheme there is no telling where a password would be.
  if (!parts)
    throw new SourceError(
      'invalid-url',
      'invalid PostgreSQL URL: it must start with postgres:// or postgresql://',
    );
  return `${parts[1] ?? ''}/${encodeURIComponent(name)}${parts[3] ?? ''}${parts[4] ?? ''}`;
}

/** Whether the URL names a database (a server URL may leave it out). */
export function namesDatabase(url: string): boolean {
  const path = URL_PARTS.exec(url)?.[2] ?? '';
  return path.length > 1;
}

/**
 * Every database a `databases: all` target backs up: those that accept connections and are not templates, sorted
 * by name (byte order). Asked through the URL's database, or the maintenance database when the URL names none.
 */
export async function listPostgresDatabases(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const options: SourceOptions = { env };
  const named = namesDatabase(url);
  const ctx = new PgContext(parsePostgresUrl(named ? url : withDatabase(url, 'postgres'), env), options);
  const client = named ? await ctx.connect(ctx.target.database) : await ctx.connectMaintenance();
  try {
    return await ctx.query('source-unreachable', async () => {
      // datconnlimit -2 marks a database whose DROP was interrupted (PostgreSQL 16+); it cannot be dumped.
      const { rows } = await client.query<{ name: string }>(
        `SELECT datname AS name FROM pg_catalog.pg_database
         WHERE datallowconn AND NOT datistemplate AND datconnlimit <> -2
         ORDER BY datname COLLATE "C"`,
      );
      return rows.map((row) => row.name);
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}
