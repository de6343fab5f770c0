// Memory of each service from dist/, quickly: idle RSS right after start, then the peak (VmHWM) across one
// physical base backup of a small scratch cluster (dump → upload → verify with a restore test), with the archiver
// streaming its WAL. A light counterpart of bench/physical.ts's RSS figures, for trying memory changes.
//
//   node -r ./tools/register.js bench/services-rss.ts [--mib 256] [--idle-only] [--node-options=-r ./x.js]
//
// --mib: table data written before the backup (default 256); --node-options: NODE_OPTIONS of the services and the
// CLI (the stack's SERVICE_NODE_FLAGS come later on the command line, so they win over the same flag here).
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { PG_BIN, startScratchCluster } from '@tidemark/testing';
import { SERVICE_NAMES, TestStack, type ServiceName } from '../test/src/support/stack';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    'node-options': { type: 'string', default: '' },
    'idle-seconds': { type: 'string', default: '5' },
    'idle-only': { type: 'boolean', default: false },
  },
});

interface Mem {
  VmRSS: number;
  VmHWM: number;
  RssAnon: number;
  RssFile: number;
}

async function memoryOf(pid: number): Promise<Mem> {
  const status = await readFile(`/proc/${String(pid)}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const mib = (key: string) => Math.round((kib(key) / 1024) * 10) / 10;
  return { VmRSS: mib('VmRSS'), VmHWM: mib('VmHWM'), RssAnon: mib('RssAnon'), RssFile: mib('RssFile') };
}

async function main(): Promise<void> {
  const cluster = await startScratchCluster({ walSegmentMiB: 16 });
  // Incompressible enough to keep zstd and the upload busy, small enough for a shared 2-core machine.
  const rows = Math.round((Number(values.mib) * 1024 * 1024) / 200);
  await cluster.query(
    `CREATE TABLE filler AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS body
     FROM generate_series(1, ${String(rows)}) g`,
  );
  const names: ServiceName[] = [...SERVICE_NAMES, 'archiver'];
  // The verifier's scratch server runs as postgres (when this runs as root): it must reach the local tier.
  const work = await mkdtemp(join(tmpdir(), 'tidemark-rss-'));
  await chmod(work, 0o755);
  const local = join(work, 'local');
  await mkdir(local, { mode: 0o755 });
  const stack = await TestStack.start({
    config: `
storage: { container: rss }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  p:
    schedule: "0 3 * * *"
    verify: { restoreTest: true }
targets:
  - id: rss-cluster
    kind: postgres
    method: physical
    url: "\${RSS_REPL_URL}"
    policy: p
    pitr: { windowDays: 7, shipPartialSeconds: 5, maxLagSeconds: 120 }
`,
    env: {
      RSS_REPL_URL: cluster.replicationUrl,
      TIDEMARK_PG_BIN: PG_BIN,
      TIDEMARK_ARCHIVER_ACQUIRE_INTERVAL_MS: '500',
      ...(values['node-options'] ? { NODE_OPTIONS: values['node-options'] } : {}),
    },
    redisDb: 13,
    archiver: true,
    localDir: local,
  });
  try {
    await sleep(Number(values['idle-seconds']) * 1000);
    const idle: Record<string, Mem> = {};
    for (const name of names) idle[name] = await memoryOf(stack.service(name).child.pid ?? 0);
    const started = Date.now();
    if (!values['idle-only']) {
      const result = await stack.cli(['backup', 'rss-cluster', '--wait', '--json', '--timeout', '600']);
      if (result.code !== 0) throw new Error(`backup failed: ${result.stderr}${result.stdout}`);
    }
    const seconds = (Date.now() - started) / 1000;
    const peak: Record<string, Mem> = {};
    for (const name of names) peak[name] = await memoryOf(stack.service(name).child.pid ?? 0);
    const table = names.map((name) => ({
      service: name,
      idleRss: idle[name]?.VmRSS,
      idleAnon: idle[name]?.RssAnon,
      idleFile: idle[name]?.RssFile,
      peakHwm: peak[name]?.VmHWM,
      endRss: peak[name]?.VmRSS,
    }));
    console.table(table);
    console.log(
      JSON.stringify({ mib: Number(values.mib), nodeOptions: values['node-options'], seconds, table }),
    );
  } finally {
    await stack.stop();
    await cluster.remove();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
