import type { TableCount } from '@tidemark/manifest';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { quoteIdent } from './connection';

/**
 * Counts carry `schema: ''`: a dump holds one database without its name, so a copy restored under any other
 * name must compare equal to it by table name alone.
 */
export const COUNT_SCHEMA = '';

// Base tables only (system-versioned ones included); views and sequences hold no rows of their own.
const LIST_TABLES = `
  SELECT TABLE_NAME AS name FROM information_schema.TABLES
  WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')`;

// One round trip per batch instead of per table; small enough to keep each statement short.
const BATCH = 100;

/** Byte order, the same order the dump scan reports, whatever the server's collation. */
export const byName = (a: { name: string }, b: { name: string }): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

export async function listTables(connection: Connection, database: string): Promise<string[]> {
  const [rows] = await connection.query<RowDataPacket[]>(LIST_TABLES, [database]);
  return rows.map((row) => String(row['name']));
}

/** Everything that would clash with a restore: tables, views and sequences. */
export async function countObjects(connection: Connection, database: string): Promise<number> {
  const [rows] = await connection.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
    [database],
  );
  return Number(rows[0]?.['n'] ?? 0);
}

/** Exact COUNT(*) of every table of `database`, all in one consistent snapshot. */
export async function countRows(connection: Connection, database: string): Promise<TableCount[]> {
  await connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
  try {
    const tables = await listTables(connection, database);
    tables.sort((a, b) => byName({ name: a }, { name: b }));
    const counts: TableCount[] = [];
    for (let start = 0; start < tables.length; start += BATCH) {
      const batch = tables.slice(start, start + BATCH);
      const sql = batch
        .map(
          (name, i) =>
            `SELECT ${start + i} AS i, COUNT(*) AS n FROM ${quoteIdent(database)}.${quoteIdent(name)}`,
        )
        .join(' UNION ALL ');
      const [rows] = await connection.query<RowDataPacket[]>(sql);
      const byIndex = new Map(rows.map((row) => [Number(row['i']), Number(row['n'])]));
      batch.forEach((name, i) =>
        counts.push({ schema: COUNT_SCHEMA, name, rows: byIndex.get(start + i) ?? 0 }),
      );
    }
    return counts;
  } finally {
    await connection.query('COMMIT').catch(() => undefined);
  }
}
