// Helpers shared by the PostgreSQL specs (real server at 127.0.0.1:5432, trust auth); not used by the source itself.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';

export const SERVER = 'postgres://postgres@127.0.0.1:5432';
export const REAL_BIN = '/usr/lib/postgresql/15/bin';

export const suffix = (): string => randomBytes(4).toString('hex');

export function pg(database: string): Client {
  return new Client({ connectionString: `${SERVER}/${database}` });
}

export async function withClient<T>(database: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = pg(database);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createDatabase(name: string, seed?: string): Promise<void> {
  await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}"`));
  if (seed) await withClient(name, (c) => c.query(seed));
}

export async function dropDatabases(names: string[]): Promise<void> {
  await withClient('postgres', async (c) => {
    for (const name of names) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
}

export async function databaseExists(name: string): Promise<boolean> {
  const { rowCount } = await withClient('postgres', (c) =>
    c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]),
  );
  return rowCount === 1;
}

export async function toFile(stream: Readable, path: string): Promise<void> {
  await pipeline(stream, createWriteStream(path));
}
