import type { TableCount } from '@tidemark/manifest';
import { createSource } from '@tidemark/source-kinds';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { REPO_ROOT } from './stack';

export const DEMO_DB_URL = 'postgres://postgres@127.0.0.1:5432/tidemark_demo';

/** Creates and seeds the demo database unless it already holds the demo tables. */
export async function ensureDemoDatabase(url: string): Promise<'created' | 'exists'> {
  const target = new URL(url);
  const database = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const adminClient = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  try {
    await adminClient.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL at ${target.hostname}:${target.port || '5432'} is unreachable (${(error as Error).message})`,
      { cause: error },
    );
  }
  try {
    const exists = await adminClient.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await adminClient.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } finally {
    await adminClient.end();
  }
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const seeded = await client.query(
      "SELECT 1 FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'orders'",
    );
    if (seeded.rowCount) return 'exists';
    await client.query(await readFile(join(REPO_ROOT, 'deploy', 'demo', 'seed.sql'), 'utf8'));
    return 'created';
  } finally {
    await client.end();
  }
}

/** Row counts of both databases side by side, for the demo's closing table. */
export async function compareDatabases(
  sourceUrl: string,
  restoredUrl: string,
): Promise<{ table: string; source: number; restored: number }[]> {
  const counts = (url: string): Promise<TableCount[]> => {
    const source = createSource({ kind: 'postgres', url });
    if (source.incremental) throw new Error('a postgres source has table counts');
    return source.tableCounts();
  };
  const [source, restored] = await Promise.all([counts(sourceUrl), counts(restoredUrl)]);
  return source.map((t) => ({
    table: `${t.schema}.${t.name}`,
    source: t.rows,
    restored: restored.find((r) => r.schema === t.schema && r.name === t.name)?.rows ?? -1,
  }));
}
