import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { eventSchema, type TidemarkEvent } from '@tidemark/events';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { QUEUE_NAMES, QUEUE_PREFIX } from '@tidemark/queues';
import { startBroker, type BrokerHandle } from '@tidemark/service-bus-broker';
import { Queue } from 'bullmq';
import { withClient } from '../src/support/database';
import { PostgresCluster } from '../src/support/postgres-cluster';
import { RedisServer } from '../src/support/redis-server';
import { slowPgBin } from '../src/support/slow-tools';
import { SERVICE_NAMES, TestStack, type ServiceName } from '../src/support/stack';
import type { ChaosOptions } from './options';

const run = promisify(execFile);

export const TOPIC = 'tidemark-events';
export const CONTAINER = 'chaos';
export const TARGET = 'chaos-db';
export const SOURCE_DB = 'tmd_chaos_src';
const COLLECTOR = 'chaos';

const CONFIG = `
storage: { container: ${CONTAINER} }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  chaos:
    schedule: "0 4 1 1 *"
    verify: { restoreTest: true }
    retention:
      local: { days: 0 }
      remote: { keepLast: 1000, daily: 0, weekly: 0, monthly: 0, yearly: 0, failedGraceDays: 30 }
targets:
  - { id: ${TARGET}, kind: postgres, url: "\${CHAOS_DB_URL}", policy: chaos }
`;

export type FinalStatus = 'verified' | 'failed';

/**
 * Everything a chaos run breaks, each part its own so it can be stopped and started: a private Redis, a private
 * PostgreSQL cluster, Azurite on a fixed port and location, the in-repo Service Bus broker (events keep flowing
 * through a Redis flush, and the bus can be taken down on its own), a tmpfs local tier, and the five services.
 */
export class ChaosEnvironment {
  private constructor(
    readonly redis: RedisServer,
    readonly postgres: PostgresCluster,
    readonly broker: BrokerHandle,
    readonly stack: TestStack,
    readonly localDir: string,
    /** False when mounting the tmpfs was refused: the disk-full scenario is skipped. */
    readonly tmpfs: boolean,
    private readonly root: string,
    private readonly logsDir: string | undefined,
  ) {}

  static async start(options: ChaosOptions): Promise<ChaosEnvironment> {
    const root = await mkdtemp(join(tmpdir(), 'tidemark-chaos-'));
    const localDir = join(root, 'local');
    await mkdir(localDir);
    const tmpfs = await run('mount', [
      '-t',
      'tmpfs',
      '-o',
      `size=${options.tmpfsBytes}`,
      'tmpfs',
      localDir,
    ]).then(
      () => true,
      (error: unknown) => {
        options.log(
          `chaos: cannot mount a tmpfs local tier (${String(error)}); the disk-full scenario is skipped`,
        );
        return false;
      },
    );
    const redis = await RedisServer.start();
    const postgres = await PostgresCluster.start();
    await seedSource(postgres, options.rows);
    const broker = await startBroker();
    broker.createTopic(TOPIC);
    broker.createSubscription(TOPIC, COLLECTOR);
    broker.createSubscription(TOPIC, 'cli');
    broker.createSubscription(TOPIC, 'retention', { filter: "type = 'tidemark.backup.verified'" });
    const stack = await TestStack.start({
      config: CONFIG,
      redisUrl: redis.url,
      localDir,
      env: {
        CHAOS_DB_URL: postgres.url(SOURCE_DB),
        AZURE_SERVICEBUS_CONNECTION_STRING: broker.connectionString,
        TIDEMARK_PART_SIZE_MB: '2',
        TIDEMARK_PG_BIN: '/usr/lib/postgresql/15/bin',
        TIDEMARK_RETRY_DELAY_MS: String(options.retryDelayMs),
        LOG_LEVEL: 'info',
      },
    });
    if (options.logsDir) await mkdir(options.logsDir, { recursive: true });
    return new ChaosEnvironment(redis, postgres, broker, stack, localDir, tmpfs, root, options.logsDir);
  }

  get container(): ContainerClient {
    return BlobServiceClient.fromConnectionString(this.stack.azurite.connectionString).getContainerClient(
      CONTAINER,
    );
  }

  /** Every event delivered to the bus so far (the collector subscription is never drained). */
  events(): TidemarkEvent[] {
    return this.broker.messages(TOPIC, COLLECTOR).active.map((m) => eventSchema.parse(m.body));
  }

  eventsOf(backupId: string): TidemarkEvent[] {
    return this.events().filter((e) => e.data.backupId === backupId);
  }

  /** The manifest in Blob Storage, or undefined while there is none (or Blob Storage is down). */
  async remoteManifest(backupId: string, targetId = TARGET): Promise<Manifest | undefined> {
    try {
      const body = await this.container
        .getBlobClient(`${targetId}/${backupId}/manifest.json`)
        .downloadToBuffer();
      return parseManifest(JSON.parse(body.toString('utf8')));
    } catch {
      return undefined;
    }
  }

  /** POST /targets/:id/backups on the scheduler; a trigger that joins an older backup is tried again. */
  async trigger(known: ReadonlySet<string>, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const port = this.stack.service('scheduler').port;
      const response = await fetch(`http://127.0.0.1:${port}/targets/${TARGET}/backups`, {
        method: 'POST',
      }).catch(() => undefined);
      if (response?.status === 202) {
        const body = (await response.json()) as { backupId: string; coalesced: boolean };
        if (!body.coalesced || !known.has(body.backupId)) return body.backupId;
      }
      if (Date.now() > deadline)
        throw new Error(`no new backup of ${TARGET} could be started within ${timeoutMs / 1000}s`);
      await sleep(1000);
    }
  }

  /** Waits until the backup's manifest is final; undefined when it is not within the timeout (stuck). */
  async waitFinal(backupId: string, timeoutMs: number): Promise<FinalStatus | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const status = (await this.remoteManifest(backupId))?.status;
      if (status === 'verified' || status === 'failed') return status;
      await sleep(1000);
    }
    return undefined;
  }

  /** Jobs not yet finished in each queue (waiting, active, delayed, prioritized), job schedulers' next runs aside. */
  async pendingJobs(): Promise<Record<string, number>> {
    const pending: Record<string, number> = {};
    for (const name of QUEUE_NAMES) {
      if (name === 'schedule') continue;
      const queue = new Queue(name, { connection: { url: this.redis.url }, prefix: QUEUE_PREFIX });
      try {
        const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);
        pending[name] = jobs.filter((job) => !job.repeatJobKey).length;
      } finally {
        await queue.close();
      }
    }
    return pending;
  }

  /** Part directories of the local tier: `<target>/<backupId>`. */
  async localBackups(): Promise<{ targetId: string; backupId: string; files: string[] }[]> {
    const found: { targetId: string; backupId: string; files: string[] }[] = [];
    for (const targetId of await readdir(this.localDir).catch(() => [])) {
      if (targetId.startsWith('.') || targetId === 'lost+found') continue;
      for (const backupId of await readdir(join(this.localDir, targetId)).catch(() => [])) {
        const files = await readdir(join(this.localDir, targetId, backupId)).catch(() => []);
        found.push({ targetId, backupId, files });
      }
    }
    return found;
  }

  async scratchDatabases(): Promise<string[]> {
    return withClient(this.postgres.url(), async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE 'tidemark\\_verify\\_%' ORDER BY 1`,
      );
      return rows.map((r) => r.datname);
    });
  }

  /** A bin directory with a throttled pg_dump (made once per rate), for faults that must land mid-dump. */
  async slowPgBin(bytesPerSecond: number): Promise<string> {
    const dir = join(this.root, `slow-bin-${bytesPerSecond}`);
    if (!existsSync(dir)) await slowPgBin(dir, bytesPerSecond);
    return dir;
  }

  /** Appends what this incarnation of the service printed to `<logsDir>/<service>.log` (call before a restart). */
  async saveLogs(service: ServiceName): Promise<void> {
    if (!this.logsDir || !this.stack.services.has(service)) return;
    await appendFile(join(this.logsDir, `${service}.log`), this.stack.logs(service));
  }

  async stop(): Promise<void> {
    await this.stack.stop().catch(() => undefined);
    for (const service of SERVICE_NAMES) await this.saveLogs(service);
    await this.broker.stop().catch(() => undefined);
    await this.postgres.destroy().catch(() => undefined);
    await this.redis.destroy().catch(() => undefined);
    if (this.tmpfs) await run('umount', ['-l', this.localDir]).catch(() => undefined);
    await rm(this.root, { recursive: true, force: true });
  }
}

/** A static source (nothing writes to it during the run), so every verified backup must restore identical. */
async function seedSource(postgres: PostgresCluster, rows: number): Promise<void> {
  await withClient(postgres.url(), (c) => c.query(`CREATE DATABASE ${SOURCE_DB}`));
  await withClient(postgres.url(SOURCE_DB), (c) =>
    c.query(
      `CREATE TABLE items (id int PRIMARY KEY, label text, payload text);
       INSERT INTO items SELECT i, 'item ' || i,
         (SELECT string_agg(md5(i::text || '-' || j::text), '') FROM generate_series(1, 10) j)
       FROM generate_series(1, ${rows}) i;
       CREATE TABLE events (id bigserial PRIMARY KEY, item int REFERENCES items, at timestamptz);
       INSERT INTO events (item, at) SELECT 1 + i % ${rows}, timestamptz '2026-01-01' + i * interval '1 second'
       FROM generate_series(1, ${rows}) i;
       CREATE INDEX ON events (at);`,
    ),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
