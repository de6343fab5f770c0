import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { QUEUE_PREFIX } from '@tidemark/queues';
import { waitFor } from '@tidemark/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { withClient } from './support/database';
import { PostgresCluster } from './support/postgres-cluster';
import { RedisServer } from './support/redis-server';
import { TestStack } from './support/stack';

const TARGETS = Array.from({ length: 10 }, (_, i) => `replica-${i}`);
const STAGES = [
  'tidemark.backup.requested',
  'tidemark.backup.dumped',
  'tidemark.backup.uploaded',
  'tidemark.backup.verified',
];

const CONFIG = `
storage: { container: e2e-replicas }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  quick:
    schedule: "0 4 1 1 *"
    verify: { restoreTest: true }
    retention: { remote: { keepLast: 5, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
targets:
${TARGETS.map((id, i) => `  - { id: ${id}, kind: postgres, url: "\${REPLICA_DB_${i}}", policy: quick }`).join('\n')}
`;

/**
 * Watches the retention locks through keyspace notifications: a `set` of a lock key while the previous holder has
 * neither released it (`del`) nor let it expire means two runs of one target at once.
 */
class LockWatch {
  readonly overlaps: string[] = [];
  readonly taken = new Map<string, number>();
  private readonly held = new Set<string>();

  private constructor(private readonly subscriber: Redis) {}

  static async start(url: string): Promise<LockWatch> {
    const admin = new Redis(url);
    await admin.config('SET', 'notify-keyspace-events', 'K$gx');
    admin.disconnect();
    const subscriber = new Redis(url);
    const watch = new LockWatch(subscriber);
    subscriber.on('pmessage', (_pattern: string, channel: string, action: string) => {
      watch.observe(channel.slice(channel.indexOf(':') + 1), action);
    });
    await subscriber.psubscribe('__keyspace@*__:*lock:retention:*');
    return watch;
  }

  private observe(key: string, action: string): void {
    if (action === 'set') {
      if (this.held.has(key)) this.overlaps.push(key);
      this.held.add(key);
      this.taken.set(key, (this.taken.get(key) ?? 0) + 1);
    } else if (action === 'del' || action === 'expired') this.held.delete(key);
  }

  stop(): void {
    this.subscriber.disconnect();
  }
}

describe('two replicas of every service, ten targets triggered at once', () => {
  let redis: RedisServer;
  let postgres: PostgresCluster;
  let stack: TestStack;
  let bus: RedisStreamEventBus;
  let locks: LockWatch;
  const backupIds = new Map<string, string>();

  const events = async (): Promise<TidemarkEvent[]> =>
    (await bus.history({ limit: 100_000 })).map((e) => e.event);
  const manifests = async (): Promise<Manifest[]> => {
    const container = BlobServiceClient.fromConnectionString(
      stack.azurite.connectionString,
    ).getContainerClient('e2e-replicas');
    const found: Manifest[] = [];
    for await (const blob of container.listBlobsFlat())
      if (blob.name.endsWith('/manifest.json'))
        found.push(
          parseManifest(
            JSON.parse((await container.getBlobClient(blob.name).downloadToBuffer()).toString('utf8')),
          ),
        );
    return found;
  };
  /** Log lines of every replica of a service that carry `message` for the backup. */
  const logLines = (service: 'dumper' | 'uploader' | 'verifier', message: string, backupId: string): number =>
    stack
      .replicaLogs(service)
      .join('')
      .split('\n')
      .filter((line) => line.includes(message) && line.includes(backupId)).length;

  before(async () => {
    redis = await RedisServer.start();
    postgres = await PostgresCluster.start();
    const env: NodeJS.ProcessEnv = { TIDEMARK_PART_SIZE_MB: '1' };
    for (const [i] of TARGETS.entries()) {
      const name = `tmd_replica_${i}`;
      await withClient(postgres.url(), (c) => c.query(`CREATE DATABASE ${name}`));
      await withClient(postgres.url(name), (c) =>
        // About 2.5 MiB compressed: three parts of 1 MiB, so parts of one backup race each other too.
        c.query(
          `CREATE TABLE t (id int PRIMARY KEY, v text);
           INSERT INTO t SELECT i, (SELECT string_agg(md5(i::text || '-' || j::text || '-${i}'), '') FROM generate_series(1, 8) j)
           FROM generate_series(1, 20000) i`,
        ),
      );
      env[`REPLICA_DB_${i}`] = postgres.url(name);
    }
    locks = await LockWatch.start(redis.url);
    stack = await TestStack.start({ config: CONFIG, env, redisUrl: redis.url, replicas: 2 });
    bus = new RedisStreamEventBus(redis.url);
  });

  after(async () => {
    locks.stop();
    await bus.close();
    await stack.stop();
    await postgres.destroy();
    await redis.destroy();
  });

  test('each target is triggered through both schedulers at once and backed up exactly once', async () => {
    const schedulers = stack.replicasOf('scheduler').map((s) => s.port);
    const results = await Promise.all(
      TARGETS.flatMap((id) =>
        schedulers.map(async (port) => {
          const response = await fetch(`http://127.0.0.1:${port}/targets/${id}/backups`, { method: 'POST' });
          assert.equal(response.status, 202);
          return { id, ...((await response.json()) as { backupId: string; coalesced: boolean }) };
        }),
      ),
    );
    for (const id of TARGETS) {
      const mine = results.filter((r) => r.id === id);
      assert.equal(new Set(mine.map((r) => r.backupId)).size, 1, `${id}: both triggers name one backup`);
      assert.equal(mine.filter((r) => r.coalesced).length, 1, `${id}: the second trigger joined the first`);
      backupIds.set(id, mine[0]?.backupId ?? '');
    }
    await waitFor(
      async () => {
        const verified = (await events()).filter((e) => e.type === 'tidemark.backup.verified').length;
        return verified >= TARGETS.length;
      },
      { timeoutMs: 240_000, intervalMs: 1000, what: 'ten verified backups' },
    );
    const all = await manifests();
    for (const id of TARGETS) {
      const ofTarget = all.filter((m) => m.target.id === id);
      assert.deepEqual(
        ofTarget.map((m) => [m.backupId, m.status]),
        [[backupIds.get(id), 'verified']],
        `${id}: one backup, verified`,
      );
    }
  });

  test('one dump per target, each part uploaded once, each backup verified once', async () => {
    const all = await manifests();
    for (const [id, backupId] of backupIds) {
      assert.equal(logLines('dumper', 'dump complete', backupId), 1, `${id}: dumped by one replica, once`);
      assert.equal(logLines('uploader', 'blob committed', backupId), 1, `${id}: committed once`);
      assert.equal(logLines('verifier', 'backup verified', backupId), 1, `${id}: verified once`);
      const manifest = all.find((m) => m.backupId === backupId);
      assert.ok(manifest && manifest.artifact.parts.length >= 2, `${id}: several parts`);
    }
    // Every part staged once: the bytes both uploaders sent are exactly the artifacts' sizes.
    let uploaded = 0;
    for (const replica of stack.replicasOf('uploader')) {
      const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
      for (const [, value] of text.matchAll(/^tidemark_upload_bytes_total(?:\{[^}]*\})? (\d+)/gm))
        uploaded += Number(value);
    }
    const sizes = all.reduce((sum, m) => sum + (m.artifact.size ?? 0), 0);
    assert.equal(uploaded, sizes, 'bytes staged by both uploaders = bytes of the ten artifacts');
  });

  test('no stage event is published twice for a backup', async () => {
    const all = await events();
    for (const [id, backupId] of backupIds) {
      const counts = STAGES.map(
        (type) => all.filter((e) => e.data.backupId === backupId && e.type === type).length,
      );
      assert.deepEqual(counts, [1, 1, 1, 1], `${id}: requested, dumped, uploaded, verified once each`);
      assert.equal(
        all.filter((e) => e.data.backupId === backupId && e.type === 'tidemark.backup.failed').length,
        0,
      );
    }
  });

  test('retention runs one at a time per target, also when both replicas are asked at once', async () => {
    const queue = new Queue('retention', { connection: { url: redis.url }, prefix: QUEUE_PREFIX });
    try {
      const asked = Date.now();
      await queue.addBulk(
        TARGETS.flatMap((targetId) =>
          [0, 1, 2].map((n) => ({
            name: 'retention',
            data: { v: 1, targetId },
            opts: { jobId: `replicas-${targetId}-${n}`, removeOnComplete: false },
          })),
        ),
      );
      await waitFor(
        async () => {
          const jobs = await queue.getJobs(['completed', 'failed']);
          return (
            jobs.filter((j) => String(j.id).startsWith('replicas-') && (j.finishedOn ?? 0) >= asked)
              .length ===
            TARGETS.length * 3
          );
        },
        { timeoutMs: 120_000, intervalMs: 500, what: 'thirty retention jobs to finish' },
      );
      const failed = (await queue.getJobs(['failed'])).filter((j) => String(j.id).startsWith('replicas-'));
      assert.deepEqual(
        failed.map((j) => j.failedReason),
        [],
      );
    } finally {
      await queue.close();
    }
    assert.deepEqual(locks.overlaps, [], 'no retention lock taken while held');
    for (const id of TARGETS)
      assert.ok(
        [...locks.taken.keys()].some((key) => key.endsWith(`:${id}`)),
        `${id}: its retention lock was seen`,
      );
    const applied = (await events()).filter((e) => e.type === 'tidemark.retention.applied');
    for (const id of TARGETS)
      assert.ok(
        applied.some((e) => e.data.targetId === id),
        `${id}: retention applied`,
      );
  });
});
