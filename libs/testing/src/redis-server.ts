import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './names';
import { waitFor } from './wait';

export interface RedisServerHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * A redis-server of the test's own on a free port, without persistence, for tests that flush, reconfigure or
 * stop Redis (never the machine's shared one). `args` are extra command-line options.
 */
export async function startRedisServer(args: string[] = []): Promise<RedisServerHandle> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${String(child.exitCode)}`);
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        return true;
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    },
    { timeoutMs: 15_000, intervalMs: 100, what: `redis-server on port ${port}` },
  );
  return {
    url,
    port,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
