/**
 * The WAL archiver of bench/physical.ts as a process of its own, so its peak RSS is the archiver's alone:
 * ArchiverService (Redis lease) → WalReceiver (pg_receivewal, slot) → WalArchive on Azurite, as the archiver app
 * wires them. bench/physical.ts compiles this file next to dist/ and runs it as plain JavaScript (no compiler in
 * the process); it talks over IPC: `ready` once streaming, `shipped` per batch, `stop` → `stopped` with maxRSS.
 * Settings come from the environment (the target url holds a password: never argv).
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { ArchiverService, type ShippedFile } from '@tidemark/archiving';
import { RedisLock } from '@tidemark/queues';
import { AzureBlobStore } from '@tidemark/storage';
import { WalArchive } from '@tidemark/wal-archive';

/** Messages to the bench; `at` is Date.now() when the batch was committed. */
export type ArchiverMessage =
  | { type: 'ready' }
  | { type: 'shipped'; at: number; batch: ShippedFile[] }
  | { type: 'failed'; file: string; attempts: number; error: string }
  | { type: 'stopped'; maxRssBytes: number; memory: NodeJS.MemoryUsage };

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`physical-archiver: ${name} is not set`);
  return value;
}

function send(message: ArchiverMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const targetId = setting('BENCH_TARGET_ID');
  const store = AzureBlobStore.fromConnectionString(
    setting('AZURE_STORAGE_CONNECTION_STRING'),
    setting('BENCH_CONTAINER'),
  );
  await store.ensureContainer();
  const redis = new Redis(setting('REDIS_URL'));
  const service = new ArchiverService({
    targets: [{ id: targetId, url: setting('BENCH_TARGET_URL') }],
    sink: new WalArchive(store),
    lock: new RedisLock(redis, 'archiver', 15_000),
    leaseTtlMs: 15_000,
    owner: `${hostname()}-${String(process.pid)}`,
    spoolDirectory: setting('BENCH_SPOOL'),
    shipPartialSeconds: Number(process.env['BENCH_SHIP_PARTIAL_SECONDS'] ?? 30),
    pollMs: 500,
    onShipped: (batch) => {
      send({ type: 'shipped', at: Date.now(), batch });
    },
    onFailure: (file, attempts, error) => {
      send({ type: 'failed', file, attempts, error: error instanceof Error ? error.message : String(error) });
    },
    log: (line) => {
      process.stderr.write(`${line}\n`);
    },
  });
  await service.start();
  if (!service.streaming().includes(targetId))
    throw new Error(`physical-archiver: ${targetId} did not start`);
  send({ type: 'ready' });
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'stop') return;
    void service
      .stop()
      .then(async () => {
        await redis.quit();
        send({
          type: 'stopped',
          maxRssBytes: process.resourceUsage().maxRSS * 1024,
          memory: process.memoryUsage(),
        });
        process.disconnect();
      })
      .catch((error: unknown) => {
        console.error(error);
        process.exit(1);
      });
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
