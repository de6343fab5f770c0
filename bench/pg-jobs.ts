/**
 * Parallel PostgreSQL dumps (`jobs: 2`) against the plain custom-format dump, on the same ~1 GiB database in the
 * same run. Run by hand (not a test):
 *   node -r ./tools/register.js bench/pg-jobs.ts [--gib 1] [--runs 2] [--keep]
 * Measures: bare `pg_dump -Fc -Z0 > /dev/null`; Tidemark's jobs=2 dump (pg_dump -Fd -j2 streamed as a tar) through
 * zstd level 1 (the pipeline's compressor) to /dev/null; bare `pg_dump -Fd -j2 -Z0` into a directory; and, for
 * reference, Tidemark's custom-format dump through the same zstd. The database is dropped at the end unless --keep.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { createCompressor } from '@tidemark/artifact';
import { createSource } from '@tidemark/source-kinds';

const DB = 'tidemark_bench_jobs';
const SERVER = 'postgres://postgres@127.0.0.1:5432';
const PG_BIN = process.env['TIDEMARK_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';
const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const gib = flag('--gib', 1);
const runs = flag('--runs', 2);
const TABLES = 4;

async function withClient<T>(database: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: `${SERVER}/${database}` });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Several equally big tables, so two pg_dump workers have something to share. */
async function ensureDatabase(): Promise<number> {
  const exists = await withClient('postgres', (c) =>
    c.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB]),
  );
  if (!exists.rowCount) {
    await withClient('postgres', (c) => c.query(`CREATE DATABASE ${DB}`));
    console.log(`generating ~${gib} GiB in ${DB} (${TABLES} tables) …`);
    // ~200 bytes per row on disk with its index; compressible like real data, not random.
    const rows = Math.round((gib * 1024 ** 3) / 200 / TABLES);
    await Promise.all(
      Array.from({ length: TABLES }, (_, t) =>
        withClient(DB, async (c) => {
          await c.query(
            `CREATE TABLE events_${t} (id bigint PRIMARY KEY, at timestamptz, kind text, payload jsonb, note text)`,
          );
          for (let start = 1; start <= rows; start += 1_000_000) {
            await c.query(
              `INSERT INTO events_${t} SELECT i, timestamptz '2025-01-01' + i * interval '1 second', 'kind-' || (i % 40),
                 jsonb_build_object('user', i % 100000, 'amount', (i % 9973) * 1.5, 'tags', jsonb_build_array(i % 7, i % 13)),
                 md5(i::text) || ' ' || repeat(chr((97 + i % 26)::int), 20)
               FROM generate_series($1::bigint, $2::bigint) i`,
              [start, Math.min(rows, start + 999_999)],
            );
          }
          await c.query(`VACUUM ANALYZE events_${t}`);
        }),
      ),
    );
  }
  return withClient(DB, async (c) =>
    Number(
      (await c.query<{ s: string }>('SELECT pg_database_size(current_database()) AS s')).rows[0]?.s ?? 0,
    ),
  );
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function pgDump(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(PG_BIN, 'pg_dump'), [...args, '-h', '127.0.0.1', '-U', 'postgres', DB], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`pg_dump exited ${code}`));
    });
  });
}

/** Bare custom dump; stdout goes to /dev/null through a file descriptor, like `> /dev/null`. */
function bareCustom(): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream('/dev/null');
    out.once('open', (fd) => {
      const child = spawn(join(PG_BIN, 'pg_dump'), ['-Fc', '-Z0', '-h', '127.0.0.1', '-U', 'postgres', DB], {
        stdio: ['ignore', fd, 'inherit'],
      });
      child.once('exit', (code) => {
        out.close();
        if (code === 0) resolve();
        else reject(new Error(`pg_dump exited ${code}`));
      });
    });
  });
}

async function bareDirectory(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-pgd-'));
  try {
    await rm(dir, { recursive: true });
    await pgDump(['-Fd', '-j2', '-Z0', '-f', dir]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A Tidemark dump as the dumper runs it: stdout → zstd level 1 → (here) nowhere. */
async function tidemark(jobs: number): Promise<{ raw: number; compressed: number }> {
  const workDir = await mkdtemp(join(tmpdir(), 'bench-work-'));
  try {
    const source = createSource({ kind: 'postgres', url: `${SERVER}/${DB}`, options: { jobs } });
    const handle = await source.dump({ backupId: 'bench', workDir });
    let raw = 0;
    let compressed = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        raw += chunk.length;
        done(null, chunk);
      },
    });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        compressed += chunk.length;
        done();
      },
    });
    await Promise.all([pipeline(handle.stdout, counter, createCompressor('zstd'), sink), handle.finished]);
    return { raw, compressed };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

async function main(): Promise<void> {
  const size = await ensureDatabase();
  console.log(`database ${DB}: ${(size / 1024 ** 3).toFixed(2)} GiB, ${TABLES} tables`);
  const results: Record<string, number[]> = { bare: [], jobs2: [], bareDir: [], custom: [] };
  let sizes = '';
  for (let run = 1; run <= runs; run++) {
    results['bare']?.push(await timed(bareCustom));
    let jobsSizes = { raw: 0, compressed: 0 };
    results['jobs2']?.push(
      await timed(async () => {
        jobsSizes = await tidemark(2);
      }),
    );
    results['bareDir']?.push(await timed(bareDirectory));
    results['custom']?.push(
      await timed(async () => {
        await tidemark(1);
      }),
    );
    sizes = `tar ${jobsSizes.raw} B → zstd ${jobsSizes.compressed} B`;
    console.log(
      `run ${run}: bare -Fc -Z0 ${seconds(results['bare']?.at(-1) ?? 0)} s | tidemark jobs=2 + zstd ${seconds(results['jobs2']?.at(-1) ?? 0)} s | ` +
        `bare -Fd -j2 -Z0 ${seconds(results['bareDir']?.at(-1) ?? 0)} s | tidemark custom + zstd ${seconds(results['custom']?.at(-1) ?? 0)} s`,
    );
  }
  const best = (name: string): number => Math.min(...(results[name] ?? [0]));
  const median = (name: string): number => {
    const sorted = [...(results[name] ?? [0])].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  };
  // The machine is shared and noisy: best and median of the runs.
  for (const [label, stat] of [
    ['best', best],
    ['median', median],
  ] as const) {
    console.log(
      `${label} of ${runs}: bare -Fc ${seconds(stat('bare'))} s, tidemark jobs=2 ${seconds(stat('jobs2'))} s ` +
        `(${(stat('jobs2') / stat('bare')).toFixed(2)}× bare -Fc), bare -Fd -j2 ${seconds(stat('bareDir'))} s, ` +
        `tidemark custom ${seconds(stat('custom'))} s`,
    );
  }
  console.log(sizes);
  if (!process.argv.includes('--keep')) {
    await withClient('postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`));
    console.log(`dropped ${DB}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
