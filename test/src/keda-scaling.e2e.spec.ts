import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  startAzurite,
  startRedisServer,
  waitFor,
  type AzuriteHandle,
  type RedisServerHandle,
} from '@tidemark/testing';
import { QUEUE_PREFIX } from '@tidemark/queues';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, runProcess } from './support/stack';

interface Trigger {
  type: string;
  name: string;
  metadata: Record<string, string>;
}
interface ScaledObject {
  kind: string;
  metadata: { name: string };
  spec: { minReplicaCount?: number; triggers: Trigger[] };
}

const SCALED_TO_ZERO = { dumper: 'dump', uploader: 'upload', verifier: 'verify' } as const;
type Worker_ = keyof typeof SCALED_TO_ZERO;
const STATES = ['wait', 'active', 'prioritized', 'delayed', 'delayed retry'] as const;
type State = (typeof STATES)[number];

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

/**
 * What KEDA would decide for the workers that scale to zero, evaluated exactly as the rendered ScaledObjects say
 * (each trigger's list length, or the JSON value at its valueLocation from the real scheduler), against a real
 * Redis holding a real BullMQ job in each state. A worker is activated (0 → 1) when any trigger's value exceeds its
 * activation threshold.
 */
describe(
  'KEDA scale-from-zero signal against real BullMQ jobs',
  { skip: hasKubectl ? false : 'kubectl is not installed' },
  () => {
    let dir: string;
    let azurite: AzuriteHandle;
    let server: RedisServerHandle;
    let redis: Redis;
    let scheduler: ChildProcess;
    let schedulerPort: number;
    let scaled: Map<Worker_, ScaledObject>;
    const queues = new Map<string, Queue>();

    before(async () => {
      const rendered = spawnSync(
        'kubectl',
        ['kustomize', join(REPO_ROOT, 'deploy', 'k8s', 'overlays', 'aks')],
        {
          encoding: 'utf8',
          maxBuffer: 64 << 20,
        },
      );
      assert.equal(rendered.status, 0, rendered.stderr);
      const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as ScaledObject);
      scaled = new Map(
        (Object.keys(SCALED_TO_ZERO) as Worker_[]).map((w) => {
          const found = objects.find((o) => o.kind === 'ScaledObject' && o.metadata.name === `tidemark-${w}`);
          assert.ok(found);
          assert.equal(found.spec.minReplicaCount, 0);
          return [w, found];
        }),
      );

      dir = await mkdtemp(join(tmpdir(), 'tmb-keda-'));
      const build = await runProcess(process.execPath, [join(REPO_ROOT, 'tools', 'build.mjs')], process.env);
      assert.equal(build.code, 0, build.stderr);
      [azurite, server] = await Promise.all([
        startAzurite({ location: join(dir, 'azurite') }),
        startRedisServer(),
      ]);
      redis = new Redis(server.url);
      const configPath = join(dir, 'tidemark.yaml');
      await writeFile(
        configPath,
        `storage: { container: e2e-keda }\nlocal: { path: ${join(dir, 'local')} }\npolicies:\n  p: { schedule: "0 2 * * *" }\ntargets:\n  - { id: orders-db, kind: postgres, url: "postgres://postgres@127.0.0.1:1/x", policy: p }\n`,
      );
      schedulerPort = await freePort();
      scheduler = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'apps', 'scheduler', 'src', 'main.js')], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          TIDEMARK_CONFIG: configPath,
          REDIS_URL: server.url,
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          PORT: String(schedulerPort),
        },
        stdio: 'ignore',
      });
      await waitFor(
        () =>
          fetch(`http://127.0.0.1:${schedulerPort}/readyz`).then(
            (r) => r.ok,
            () => false,
          ),
        { timeoutMs: 60_000, intervalMs: 250, what: 'the scheduler' },
      );
      for (const name of Object.values(SCALED_TO_ZERO))
        queues.set(name, new Queue(name, { connection: { url: server.url }, prefix: QUEUE_PREFIX }));
    });

    after(async () => {
      await Promise.all([...queues.values()].map((q) => q.close()));
      if (scheduler.exitCode === null) {
        const exited = new Promise((resolve) => scheduler.once('exit', resolve));
        scheduler.kill('SIGTERM');
        await exited;
      }
      redis.disconnect();
      await server.stop();
      await azurite.stop();
      await rm(dir, { recursive: true, force: true });
    });

    /** What one trigger reads, as KEDA's scaler of its type would. */
    async function read(trigger: Trigger): Promise<number> {
      if (trigger.type === 'redis') return redis.llen(trigger.metadata['listName'] ?? '');
      assert.equal(trigger.type, 'metrics-api');
      // The in-cluster URL, pointed at the scheduler running here: same path, same JSON.
      const url = new URL(trigger.metadata['url'] ?? '');
      const response = await fetch(`http://127.0.0.1:${schedulerPort}${url.pathname}`);
      const body: unknown = await response.json();
      const value = (trigger.metadata['valueLocation'] ?? '')
        .split('.')
        .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], body);
      assert.equal(typeof value, 'number', `${trigger.metadata['valueLocation'] ?? ''} is a number`);
      return value as number;
    }

    function threshold(trigger: Trigger): number {
      return Number(
        trigger.metadata['activationListLength'] ?? trigger.metadata['activationTargetValue'] ?? 0,
      );
    }

    /** KEDA activates a ScaledObject at zero when any of its triggers is above its activation threshold. */
    async function activates(triggers: Trigger[]): Promise<boolean> {
      for (const trigger of triggers) if ((await read(trigger)) > threshold(trigger)) return true;
      return false;
    }

    async function putJob(queue: Queue, state: State): Promise<Worker | undefined> {
      const data = { v: 1 };
      if (state === 'wait') await queue.add('job', data);
      if (state === 'prioritized') await queue.add('job', data, { priority: 5 });
      if (state === 'delayed') await queue.add('job', data, { delay: 3_600_000 });
      if (state === 'active' || state === 'delayed retry') {
        await queue.add('job', data, { attempts: 3, backoff: { type: 'fixed', delay: 3_600_000 } });
        const worker = new Worker(queue.name, null, {
          connection: { url: server.url },
          prefix: QUEUE_PREFIX,
          autorun: false,
        });
        const token = randomUUID();
        const job = await worker.getNextJob(token);
        assert.ok(job);
        // The first attempt failed: BullMQ moves the job to the delayed set to wait out its backoff.
        if (state === 'delayed retry')
          await job.moveToFailed(new Error('Blob Storage unavailable'), token, true);
        return worker;
      }
      return undefined;
    }

    for (const [worker, queueName] of Object.entries(SCALED_TO_ZERO) as [Worker_, string][]) {
      test(`${worker}: activated by a ${queueName} job in every state that needs a worker; the old list rule misses delayed and prioritized`, async () => {
        const triggers = scaled.get(worker)?.spec.triggers ?? [];
        const lists = triggers.filter((t) => t.type === 'redis');
        const queue = queues.get(queueName);
        assert.ok(queue);
        const seen: Record<string, { now: boolean; old: boolean }> = {};
        for (const state of STATES) {
          await queue.obliterate({ force: true });
          assert.equal(await activates(triggers), false, 'an empty queue lets the worker scale to zero');
          const holder = await putJob(queue, state);
          const counts = await queue.getJobCounts(state === 'delayed retry' ? 'delayed' : state);
          assert.equal(Object.values(counts)[0], 1, `one job is ${state}`);
          seen[state] = { now: await activates(triggers), old: await activates(lists) };
          await holder?.close(true);
        }
        await queue.obliterate({ force: true });
        assert.deepEqual(seen, {
          wait: { now: true, old: true },
          active: { now: true, old: true },
          prioritized: { now: true, old: false },
          delayed: { now: true, old: false },
          'delayed retry': { now: true, old: false },
        });
      });
    }
  },
);
