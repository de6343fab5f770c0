/**
 * What age encryption costs (issue 14: "age adds ≤ 5% to the end-to-end time"), in one run on the ~1 GiB logical
 * database of bench/backup-throughput.ts: one target without and one with `encryption`, same database, same
 * stack, rounds interleaved so the machine's noise hits both alike. Run by hand (not a test):
 *   node -r ./tools/register.js bench/encryption.ts [--gib 1] [--rounds 2] [--smoke]
 * Measured per target: backup (trigger → committed), verify with the restore test (CLI `verify --restore-test`
 * until verified), restore into a new database (CLI `restore`: download, sha256, decrypt, zstd -d, pg_restore).
 * Results go to bench/results/encryption-<date>.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { RedisStreamEventBus } from '@tidemark/events';
import { waitFor } from '@tidemark/testing';
import { dbUrl, withClient } from '../test/src/support/database';
import { REPO_ROOT, TestStack } from '../test/src/support/stack';
import { BENCH_DB, ensureDatabase } from './bench-database';
import { runTool } from './physical-tools';

const SMOKE = process.argv.includes('--smoke');
const flag = (name: string): string | undefined => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const GIB = Number(flag('--gib') ?? (SMOKE ? 0.02 : 1));
const ROUNDS = Number(flag('--rounds') ?? (SMOKE ? 1 : 2));
const DB = SMOKE ? `${BENCH_DB}_smoke` : BENCH_DB;
const TARGET_RATIO = 1.05;
const KINDS = ['plain', 'sealed'] as const;
type Kind = (typeof KINDS)[number];
type Phase = 'backup' | 'verify' | 'restore';

const seconds = (ms: number): number => Math.round(ms / 100) / 10;
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

/** The CLI from dist, as a deployment runs it (no compiler in the process). */
const CLI = join(REPO_ROOT, 'dist', 'apps', 'cli', 'src', 'main.js');

async function timedCli(stack: TestStack, args: string[]): Promise<{ ms: number; stdout: string }> {
  const ran = await runTool(process.execPath, [CLI, ...args], { env: stack.env });
  if (ran.code !== 0) throw new Error(`tidemark ${args.join(' ')} failed: ${ran.stderr.slice(-2000)}`);
  return { ms: ran.ms, stdout: ran.stdout };
}

async function backup(stack: TestStack, bus: RedisStreamEventBus, target: string): Promise<[number, string]> {
  const started = performance.now();
  const { stdout } = await timedCli(stack, ['backup', target, '--json']);
  const { backupId } = JSON.parse(stdout) as { backupId: string };
  await waitFor(
    async () => {
      const types = (await bus.history({ backupId })).map((stored) => stored.event.type);
      if (types.includes('tidemark.backup.failed')) throw new Error(`backup ${backupId} failed`);
      return types.includes('tidemark.backup.uploaded');
    },
    { timeoutMs: 3_600_000, intervalMs: 100, what: `backup ${backupId} committed` },
  );
  const ms = performance.now() - started;
  // The verifier's own pass (checksum only: the policies ask for no restore test) must not overlap what follows.
  await waitFor(
    async () =>
      (await bus.history({ backupId })).some((stored) => stored.event.type === 'tidemark.backup.verified'),
    { timeoutMs: 3_600_000, intervalMs: 250, what: `backup ${backupId} verified` },
  );
  return [ms, backupId];
}

async function restore(stack: TestStack, target: string, backupId: string, round: number): Promise<number> {
  const into = `tidemark_bench_restored_${target.replace(/-/g, '_')}_${String(round)}`;
  await withClient(dbUrl('postgres'), (c) => c.query(`DROP DATABASE IF EXISTS ${into}`));
  try {
    return (await timedCli(stack, ['restore', target, '--backup', backupId, '--to', dbUrl(into)])).ms;
  } finally {
    await withClient(dbUrl('postgres'), (c) => c.query(`DROP DATABASE IF EXISTS ${into} WITH (FORCE)`));
  }
}

async function main(): Promise<void> {
  const size = await ensureDatabase(GIB, DB);
  console.log(`database ${DB}: ${(size / 1024 ** 3).toFixed(2)} GiB; load average ${loadavg().join(' ')}`);
  const ops = await generateX25519Identity();
  const stack = await TestStack.start({
    config: `
storage: { container: bench-encryption }
local: { path: __LOCAL__ }
policies:
  plain: { schedule: "0 5 * * *", verify: { restoreTest: false } }
  sealed:
    schedule: "0 5 * * *"
    verify: { restoreTest: false }
    encryption: { recipients: ["\${BENCH_AGE_RECIPIENT}"], identity: "\${BENCH_AGE_IDENTITY}" }
targets:
  - { id: plain, kind: postgres, url: "${dbUrl(DB)}", policy: plain }
  - { id: sealed, kind: postgres, url: "${dbUrl(DB)}", policy: sealed }
`,
    redisDb: 13,
    env: {
      BENCH_AGE_RECIPIENT: await identityToRecipient(ops),
      BENCH_AGE_IDENTITY: ops,
      LOG_LEVEL: 'warn',
    },
  });
  const bus = new RedisStreamEventBus(stack.redisUrl);
  const times: Record<Kind, Record<Phase, number[]>> = {
    plain: { backup: [], verify: [], restore: [] },
    sealed: { backup: [], verify: [], restore: [] },
  };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternating which goes first, so neither always runs on a warmer cache.
      for (const kind of round % 2 ? KINDS : [...KINDS].reverse()) {
        const [ms, backupId] = await backup(stack, bus, kind);
        times[kind].backup.push(ms);
        times[kind].verify.push(
          (await timedCli(stack, ['verify', backupId, '--restore-test', '--json', '--timeout', '3600'])).ms,
        );
        times[kind].restore.push(await restore(stack, kind, backupId, round));
        console.log(
          `round ${String(round)} ${kind}: backup ${String(seconds(ms))} s, verify --restore-test ` +
            `${String(seconds(times[kind].verify.at(-1) ?? 0))} s, restore ${String(seconds(times[kind].restore.at(-1) ?? 0))} s ` +
            `(load ${String(loadavg()[0]?.toFixed(2))})`,
        );
      }
    }
  } finally {
    await bus.close();
    await stack.stop();
  }
  const figures = (['backup', 'verify', 'restore'] as const).map((phase) => {
    const plain = median(times.plain[phase]);
    const sealed = median(times.sealed[phase]);
    const ratio = sealed / plain;
    return {
      figure: phase,
      plainSeconds: seconds(plain),
      ageSeconds: seconds(sealed),
      ratio: Math.round(ratio * 1000) / 1000,
      target: `≤ ${String(TARGET_RATIO)}×`,
      met: ratio <= TARGET_RATIO,
    };
  });
  console.log('\nfigure   without age  with age  ratio   target  met?');
  for (const f of figures)
    console.log(
      `${f.figure.padEnd(8)} ${String(f.plainSeconds).padStart(9)} s ${String(f.ageSeconds).padStart(7)} s ` +
        `${f.ratio.toFixed(3).padStart(6)}×  ${f.target}  ${f.met ? 'yes' : 'NO'}`,
    );
  const dir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `encryption-${new Date().toISOString().slice(0, 10)}${SMOKE ? '-smoke' : ''}.json`);
  await writeFile(
    file,
    `${JSON.stringify({ gib: GIB, databaseBytes: size, rounds: ROUNDS, times, figures }, null, 2)}\n`,
  );
  console.log(`results: ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
