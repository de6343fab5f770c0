/**
 * End-to-end backup time vs bare `pg_dump -Fc -Z0 > /dev/null` on the same ~1 GiB database, in the same run,
 * and each service's peak RSS. Run by hand (not a test):
 *   node -r ./tools/register.js bench/backup-throughput.ts [--gib 1]
 * Target (issue: PostgreSQL backups end to end): ratio ≤ 1.2, every service < 256 MB.
 */
import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { RedisStreamEventBus } from '@tidemark/events';
import { waitFor } from '@tidemark/testing';
import { dbUrl, withClient } from '../test/src/support/database';
import { SERVICE_NAMES, TestStack } from '../test/src/support/stack';

const DB = 'tidemark_bench';
const gibFlag = process.argv.indexOf('--gib');
const gib = gibFlag > 0 ? Number(process.argv[gibFlag + 1]) : 1;

async function ensureDatabase(): Promise<number> {
  const exists = await withClient(dbUrl('postgres'), (c) =>
    c.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB]),
  );
  if (!exists.rowCount) {
    await withClient(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE ${DB}`));
    // A generation that breaks off must not leave a half-filled database that a later run would measure.
    process.once('exit', (code) => {
      if (code !== 0) console.error(`generation failed: drop ${DB} before running again`);
    });
    console.log(`generating ~${gib} GiB in ${DB} …`);
    await withClient(dbUrl(DB), async (c) => {
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
  return withClient(dbUrl(DB), async (c) =>
    Number((await c.query<{ s: string }>('SELECT pg_database_size(current_database()) AS s')).rows[0]?.s),
  );
}

async function bareDump(): Promise<number> {
  const devnull = await open('/dev/null', 'w');
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('pg_dump', ['-Fc', '-Z0', '-h', '127.0.0.1', '-U', 'postgres', DB], {
      stdio: ['ignore', devnull.fd, 'inherit'],
    });
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`pg_dump exited ${String(code)}`));
    });
  });
  await devnull.close();
  return performance.now() - started;
}

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

async function main(): Promise<void> {
  const size = await ensureDatabase();
  console.log(`database ${DB}: ${(size / 1024 ** 3).toFixed(2)} GiB`);
  const stack = await TestStack.start({
    config: `
storage: { container: bench }
local: { path: __LOCAL__ }
policies:
  bench: { schedule: "0 5 * * *", verify: { restoreTest: false } }
targets:
  - { id: bench-db, kind: postgres, url: "${dbUrl(DB)}", policy: bench }
`,
    redisDb: 14,
  });
  const bus = new RedisStreamEventBus(stack.redisUrl);
  try {
    // The machine is shared and noisy: the median of three bare dumps, then two Tidemark backups.
    const baselines = [await bareDump(), await bareDump(), await bareDump()].sort((a, b) => a - b);
    const baselineMs = baselines[1] ?? 0;
    console.log(
      `bare pg_dump -Fc -Z0 > /dev/null: ${baselines.map((b) => (b / 1000).toFixed(1)).join(', ')} s (median ${(baselineMs / 1000).toFixed(1)} s)`,
    );
    for (let run = 1; run <= 2; run += 1) {
      const started = performance.now();
      const trigger = await stack.cli(['backup', 'bench-db', '--json']);
      const { backupId } = JSON.parse(trigger.stdout) as { backupId: string };
      await waitFor(
        async () =>
          (await bus.history({ backupId })).some((e) => e.event.type === 'tidemark.backup.uploaded'),
        {
          timeoutMs: 3_600_000,
          intervalMs: 100,
          what: 'the blob and manifest to be committed',
        },
      );
      const endToEndMs = performance.now() - started;
      const events = (await bus.history({ backupId })).map((e) => e.event);
      const dumped = events.find((e) => e.type === 'tidemark.backup.dumped');
      console.log(
        `run ${run}: trigger → committed blob + manifest ${(endToEndMs / 1000).toFixed(1)} s = ${(endToEndMs / baselineMs).toFixed(2)}× bare pg_dump (target ≤ 1.2×); ` +
          `dump stage ${((dumped?.data.durations?.['dump'] ?? 0) / 1000).toFixed(1)} s; ` +
          `raw ${dumped?.data.sizes?.['raw'] ?? '?'} B → ${dumped?.data.sizes?.['compressed'] ?? '?'} B`,
      );
    }
    for (const name of SERVICE_NAMES) {
      const pid = stack.service(name).child.pid;
      if (pid) console.log(`peak RSS ${name.padEnd(9)} ${((await peakRss(pid)) / 1024 ** 2).toFixed(0)} MB`);
    }
  } finally {
    await bus.close();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
