import type { Check, TableCount } from '@tidemark/manifest';
import type { Client } from 'pg';
import { quoteIdent } from './counts';
import { NO_EXCLUSION, type Exclusion } from './excludes';

/**
 * TimescaleDB keeps its catalog in extension tables and its rows in chunk tables: pg_dump handles both, but a
 * restore must run between timescaledb_pre_restore() and timescaledb_post_restore() in the target database.
 */
export const TIMESCALE_EXTENSION = 'timescaledb';

/** The installed TimescaleDB version in the connected database, or undefined without the extension. */
export async function timescaleVersion(client: Client): Promise<string | undefined> {
  const { rows } = await client.query<{ version: string }>(
    'SELECT extversion AS version FROM pg_catalog.pg_extension WHERE extname = $1',
    [TIMESCALE_EXTENSION],
  );
  return rows[0]?.version;
}

/** Rows per hypertable (the sum over its chunks), in whatever transaction `client` is in; excluded ones left out. */
export async function hypertableCounts(
  client: Client,
  exclusion: Exclusion = NO_EXCLUSION,
): Promise<TableCount[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT h.hypertable_schema::text AS schema, h.hypertable_name::text AS name
     FROM timescaledb_information.hypertables h
     JOIN pg_catalog.pg_namespace n ON n.nspname = h.hypertable_schema
     JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = h.hypertable_name
     WHERE NOT ${exclusion.sql}
     ORDER BY h.hypertable_schema::text COLLATE "C", h.hypertable_name::text COLLATE "C"`,
    exclusion.params,
  );
  const counts: TableCount[] = [];
  for (const { schema, name } of rows) {
    const result = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${quoteIdent(schema)}.${quoteIdent(name)}`,
    );
    counts.push({ schema, name, rows: Number(result.rows[0]?.n ?? 0) });
  }
  return counts;
}

/** One `hypertable <schema>.<name>` check per expected hypertable. */
export function compareHypertables(expected: TableCount[], actual: TableCount[]): Check[] {
  const found = new Map(actual.map((t) => [JSON.stringify([t.schema, t.name]), t.rows]));
  return expected.map((table): Check => {
    const name = `hypertable ${table.schema}.${table.name}`;
    const rows = found.get(JSON.stringify([table.schema, table.name]));
    return rows === undefined
      ? { name, ok: false, expected: table.rows, detail: 'hypertable missing after restore' }
      : { name, ok: rows === table.rows, expected: table.rows, actual: rows };
  });
}

/** Where the extension's functions live (it may have been created in a schema other than public). */
async function extensionSchema(client: Client): Promise<string> {
  const { rows } = await client.query<{ schema: string }>(
    `SELECT n.nspname AS schema FROM pg_catalog.pg_extension e
     JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1`,
    [TIMESCALE_EXTENSION],
  );
  const schema = rows[0]?.schema;
  if (schema === undefined) throw new Error(`extension ${TIMESCALE_EXTENSION} is not installed`);
  return schema;
}

/** Whether the server could create the extension (a dump that merely mentions it needs no wrapping elsewhere). */
export async function timescaleAvailable(client: Client): Promise<boolean> {
  const { rowCount } = await client.query(
    'SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = $1',
    [TIMESCALE_EXTENSION],
  );
  return rowCount === 1;
}

/** Creates the extension if needed and puts the database into restoring mode (new sessions, like pg_restore's, see it). */
export async function timescalePreRestore(client: Client): Promise<void> {
  await client.query(`CREATE EXTENSION IF NOT EXISTS ${TIMESCALE_EXTENSION}`);
  const schema = await extensionSchema(client);
  await client.query(`SELECT ${quoteIdent(schema)}.timescaledb_pre_restore()`);
}

export async function timescalePostRestore(client: Client): Promise<void> {
  const schema = await extensionSchema(client);
  await client.query(`SELECT ${quoteIdent(schema)}.timescaledb_post_restore()`);
}
