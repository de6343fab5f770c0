import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RedisStreamEventBus } from '@tidemark/events';
import {
  freePort,
  startAzurite,
  startRedisServer,
  waitFor,
  type AzuriteHandle,
  type RedisServerHandle,
} from '@tidemark/testing';
import { Redis } from 'ioredis';
import { REPO_ROOT, runProcess, SERVICE_NAMES, type ServiceName } from './support/stack';

const config = (targets: string[]): string => `
storage: { container: e2e-redis-safety }
local: { path: __LOCAL__ }
policies:
  often: { schedule: "* * * * *", verify: { restoreTest: false } }
targets:
${targets.map((id) => `  - { id: ${id}, kind: postgres, url: "postgres://postgres@127.0.0.1:1/${id}", policy: often }`).join('\n')}
`;

interface Service {
  child: ChildProcess;
  port: number;
  output: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * The real services from dist/ (as in production) against a redis-server of the test's own, since these tests
 * flush it and set its eviction policy.
 */
describe('Redis safety: the real services against their own redis-server', () => {
  let dir: string;
  let azurite: AzuriteHandle;
  const running: Service[] = [];
  const servers: RedisServerHandle[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tmb-redis-safety-'));
    const build = await runProcess(process.execPath, [join(REPO_ROOT, 'tools', 'build.mjs')], process.env);
    assert.equal(build.code, 0, build.stderr);
    azurite = await startAzurite({ location: join(dir, 'azurite') });
  });

  after(async () => {
    for (const s of running) if (s.child.exitCode === null) s.child.kill('SIGTERM');
    await Promise.all(running.map((s) => s.exited));
    await Promise.all(servers.map((s) => s.stop()));
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function redisServer(args: string[] = []): Promise<RedisServerHandle> {
    const server = await startRedisServer(args);
    servers.push(server);
    return server;
  }

  async function start(
    name: ServiceName,
    redisUrl: string,
    targets: string[],
    env: NodeJS.ProcessEnv = {},
  ): Promise<Service> {
    const port = await freePort();
    const configPath = join(dir, `${name}-${port}.yaml`);
    await writeFile(configPath, config(targets).replaceAll('__LOCAL__', join(dir, `local-${port}`)));
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        TIDEMARK_CONFIG: configPath,
        REDIS_URL: redisUrl,
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
        PORT: String(port),
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => {
        resolve(code);
      });
    });
    const service = { child, port, output: () => `${stderr}${stdout}`, stderr: () => stderr, exited };
    running.push(service);
    return service;
  }

  async function ready(service: Service): Promise<void> {
    await waitFor(
      async () => {
        if (service.child.exitCode !== null) throw new Error(`exited: ${service.output().slice(-2000)}`);
        return fetch(`http://127.0.0.1:${service.port}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      { timeoutMs: 60_000, intervalMs: 250, what: '/readyz' },
    );
  }

  const schedulerKeys = (redis: Redis, prefix = 'tidemark'): Promise<string[]> =>
    redis.zrange(`${prefix}:schedule:repeat`, '0', '-1');

  test(
    'every service refuses a Redis whose maxmemory-policy can evict keys, with one line',
    { timeout: 90_000 },
    async () => {
      const server = await redisServer(['--maxmemory-policy', 'allkeys-lru']);
      const services = await Promise.all(SERVICE_NAMES.map((name) => start(name, server.url, ['orders-db'])));
      for (const [i, service] of services.entries()) {
        const name = SERVICE_NAMES[i] ?? '';
        const code = await service.exited;
        assert.notEqual(code, 0, `${name} started on an evicting Redis`);
        const stderr = service.stderr().trim();
        assert.equal(
          stderr,
          `${name}: Redis maxmemory-policy is "allkeys-lru", which can evict queued jobs and locks: set it to noeviction (Azure Cache for Redis: Advanced settings, maxmemory-policy)`,
        );
      }
      const redis = new Redis(server.url);
      assert.deepEqual(await schedulerKeys(redis), [], 'the scheduler wrote no schedule before refusing');
      redis.disconnect();
    },
  );

  test(
    'a malformed TIDEMARK_NAMESPACE stops a service with one line naming it',
    { timeout: 90_000 },
    async () => {
      const server = await redisServer();
      const service = await start('scheduler', server.url, ['orders-db'], {
        TIDEMARK_NAMESPACE: 'Blue Team!',
      });
      assert.equal(await service.exited, 1);
      assert.equal(
        service.stderr().trim(),
        'scheduler: TIDEMARK_NAMESPACE: "Blue Team!" is not a namespace (1-32 characters: a-z, 0-9 and "-", starting and ending with a letter or digit)',
      );
    },
  );

  test(
    'schedules come back within one reconcile interval after a FLUSHDB, and the loss is reported',
    { timeout: 90_000 },
    async () => {
      const server = await redisServer();
      const redis = new Redis(server.url);
      try {
        const scheduler = await start('scheduler', server.url, ['orders-db', 'users-db'], {
          TIDEMARK_SCHEDULE_RECONCILE_MS: '500',
        });
        await ready(scheduler);
        assert.deepEqual((await schedulerKeys(redis)).sort(), ['target:orders-db', 'target:users-db']);

        await redis.flushdb();
        const back = await waitFor(
          async () => {
            const keys = await schedulerKeys(redis);
            return keys.length === 2 ? keys.sort() : false;
          },
          { timeoutMs: 15_000, intervalMs: 100, what: 'the job schedulers to come back' },
        );
        assert.deepEqual(back, ['target:orders-db', 'target:users-db']);
        assert.ok(
          (await redis.zcard('tidemark:schedule:delayed')) >= 2,
          'each target has its next tick queued',
        );

        const bus = new RedisStreamEventBus(server.url);
        const restored = await waitFor(
          async () => {
            const events = (await bus.history()).filter((e) => e.event.type === 'tidemark.schedule.restored');
            return events.length === 2 ? events : false;
          },
          { timeoutMs: 10_000, intervalMs: 100, what: 'two schedule.restored events' },
        );
        await bus.close();
        assert.deepEqual(restored.map((e) => e.event.data.targetId).sort(), ['orders-db', 'users-db']);
        for (const { event } of restored) {
          assert.equal(event.data['reason'], 'missing');
          assert.ok(Array.isArray(event.data['missedTicks']));
          assert.equal(typeof event.data['missedTickCount'], 'number');
        }
        const metrics = await (await fetch(`http://127.0.0.1:${scheduler.port}/metrics`)).text();
        assert.match(
          metrics,
          /tidemark_schedules_restored_total\{target="orders-db",reason="missing",service="scheduler"\} 1/,
        );
        assert.match(scheduler.output(), /job scheduler lost from Redis: restored/);
      } finally {
        redis.disconnect();
      }
    },
  );

  test(
    'two installations with different TIDEMARK_NAMESPACE on one Redis keep each other’s schedules',
    { timeout: 90_000 },
    async () => {
      const server = await redisServer();
      const redis = new Redis(server.url);
      try {
        const first = await start('scheduler', server.url, ['orders-db']);
        await ready(first);
        const second = await start('scheduler', server.url, ['users-db'], { TIDEMARK_NAMESPACE: 'blue' });
        await ready(second);
        assert.deepEqual(
          await schedulerKeys(redis),
          ['target:orders-db'],
          'the default installation keeps its own',
        );
        assert.deepEqual(await schedulerKeys(redis, 'tidemark-blue'), ['target:users-db']);
        const keys = await redis.keys('*');
        assert.ok(
          keys.every((k) => k.startsWith('tidemark:') || k.startsWith('tidemark-blue:')),
          `every key is in a namespace: ${keys.join(' ')}`,
        );
      } finally {
        redis.disconnect();
      }
    },
  );
});
