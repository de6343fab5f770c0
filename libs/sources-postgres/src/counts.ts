import type { TableCount } from '@tidemark/manifest';
import type { Client } from 'pg';
import { NO_EXCLUSION, type Exclusion } from './excludes';

// Ordinary tables (partitions included, partitioned parents have no rows of their own) outside the system
// schemas, other sessions' temp schemas, and extension-owned tables (CREATE EXTENSION refills those on restore).
const LIST_TABLES = `
  SELECT n.nspname AS schema, c.relname AS name
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%'
    AND n.nspname NOT LIKE 'pg\\_temp\\_%'
    AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend d
      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
    )`;
const ORDER = ` ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`;

// One round trip per batch instead of per table; small enough to keep each statement short.
const BATCH = 100;

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The user tables, less those `exclusion` leaves out of the dump. */
export async function listTables(
  client: Client,
  exclusion: Exclusion = NO_EXCLUSION,
): Promise<{ schema: string; name: string }[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `${LIST_TABLES} AND NOT ${exclusion.sql}${ORDER}`,
    exclusion.params,
  );
  return rows;
}

/** Exact count(*) of every user table the dump holds, in whatever transaction `client` is in. */
export async function countRows(client: Client, exclusion: Exclusion = NO_EXCLUSION): Promise<TableCount[]> {
  const tables = await listTables(client, exclusion);
  const counts: TableCount[] = [];
  for (let start = 0; start < tables.length; start += BATCH) {
    const batch = tables.slice(start, start + BATCH);
    const sql = batch
      .map(
        (t, i) =>
          `SELECT ${start + i} AS i, count(*)::text AS n FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
      )
      .join(' UNION ALL ');
    const { rows } = await client.query<{ i: number; n: string }>(sql);
    const byIndex = new Map(rows.map((row) => [row.i, Number(row.n)]));
    batch.forEach((t, i) =>
      counts.push({ schema: t.schema, name: t.name, rows: byIndex.get(start + i) ?? 0 }),
    );
  }
  return counts;
}

/**
 * Session settings for counting: no server-side timeout cuts a long count or the idle wait for pg_dump,
 * and row security off makes a policy fail loudly (as it does for pg_dump) instead of hiding rows.
 */
// Counting runs beside pg_dump: one backend and no parallel workers, so it does not take every core from pg_dump.
export const COUNT_SESSION_SETTINGS =
  'SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET row_security = off; ' +
  'SET max_parallel_workers_per_gather = 0';
