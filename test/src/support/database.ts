import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { REPO_ROOT } from './stack';

const ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';

export function dbUrl(name: string): string {
  return `postgres://postgres@127.0.0.1:5432/${name}`;
}

export async function withClient<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export async function createSeededDatabase(name: string): Promise<string> {
  await withClient(ADMIN, (c) => c.query(`CREATE DATABASE ${name}`));
  const seed = await readFile(join(REPO_ROOT, 'deploy', 'demo', 'seed.sql'), 'utf8');
  await withClient(dbUrl(name), (c) => c.query(seed));
  return dbUrl(name);
}

export async function dropDatabase(name: string): Promise<void> {
  await withClient(ADMIN, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** Per table: row count and an md5 over all rows in a total order, so two databases compare exactly. */
export async function tableChecksums(url: string): Promise<Record<string, { rows: number; md5: string }>> {
  return withClient(url, async (client) => {
    const tables = await client.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
       ORDER BY 1, 2`,
    );
    const result: Record<string, { rows: number; md5: string }> = {};
    for (const { schema, name } of tables.rows) {
      const q = `"${schema}"."${name}"`;
      const row = await client.query<{ rows: string; md5: string | null }>(
        `SELECT count(*) AS rows, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS md5 FROM ${q} t`,
      );
      result[`${schema}.${name}`] = { rows: Number(row.rows[0]?.rows), md5: row.rows[0]?.md5 ?? '' };
    }
    return result;
  });
}

/** Objects besides tables that a restore must bring back: sequences (with their position), indexes, views. */
export async function schemaObjects(url: string): Promise<Record<string, unknown>> {
  return withClient(url, async (client) => {
    const seq = await client.query<{ last_value: string }>(`SELECT last_value FROM shop.invoice_number`);
    const indexes = await client.query<{ indexname: string }>(
      `SELECT indexname FROM pg_indexes WHERE schemaname IN ('shop','audit') ORDER BY 1`,
    );
    const views = await client.query<{ v: string }>(
      `SELECT table_schema || '.' || table_name AS v FROM information_schema.views WHERE table_schema IN ('shop','audit') ORDER BY 1`,
    );
    const viewRows = await client.query<{ n: number; total: string }>(
      `SELECT count(*)::int AS n, sum(total)::text AS total FROM shop.customer_totals`,
    );
    return { sequence: seq.rows[0], indexes: indexes.rows, views: views.rows, viewRows: viewRows.rows[0] };
  });
}
