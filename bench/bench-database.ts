/**
 * The benches' logical PostgreSQL database: ~N GiB of events (jsonb, text, timestamps), compressible like real data,
 * generated once into `tidemark_bench` on the machine's server and reused by every later run.
 */
import { dbUrl, withClient } from '../test/src/support/database';

export const BENCH_DB = 'tidemark_bench';

/** Generates the database unless it exists; returns its size in bytes. */
export async function ensureDatabase(gib: number, name = BENCH_DB): Promise<number> {
  const exists = await withClient(dbUrl('postgres'), (c) =>
    c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]),
  );
  if (!exists.rowCount) {
    await withClient(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE ${name}`));
    // A generation that breaks off must not leave a half-filled database that a later run would measure.
    process.once('exit', (code) => {
      if (code !== 0) console.error(`generation failed: drop ${name} before running again`);
    });
    console.log(`generating ~${gib} GiB in ${name} …`);
    await withClient(dbUrl(name), async (c) => {
      await c.query(
        `CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz, kind text, payload jsonb, note text)`,
      );
      // ~200 bytes per row on disk with its index; compressible like real data, not random.
      const rows = Math.round((gib * 1024 ** 3) / 200);
      for (let start = 1; start <= rows; start += 1_000_000) {
        await c.query(
          `INSERT INTO events SELECT i, timestamptz '2025-01-01' + i * interval '1 second', 'kind-' || (i % 40),
             jsonb_build_object('user', i % 100000, 'amount', (i % 9973) * 1.5, 'tags', jsonb_build_array(i % 7, i % 13)),
             md5(i::text) || ' ' || repeat(chr((97 + i % 26)::int), 20)
           FROM generate_series($1::bigint, $2::bigint) i`,
          [start, Math.min(rows, start + 999_999)],
        );
      }
      await c.query('VACUUM ANALYZE events');
    });
  }
  return withClient(dbUrl(name), async (c) =>
    Number((await c.query<{ s: string }>('SELECT pg_database_size(current_database()) AS s')).rows[0]?.s),
  );
}
