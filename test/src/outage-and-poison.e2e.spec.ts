import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { JOBS } from '@tidemark/queues';
import { uniqueName, waitFor } from '@tidemark/testing';
import { Redis } from 'ioredis';
import { dbUrl, dropDatabase, withClient } from './support/database';
import { backupIdOf, OutageProbe } from './support/outage-probe';
import { POISON_BACKUP_ID, POISON_EVENTS, POISON_JOBS } from './support/poison-payloads';
import { TestStack } from './support/stack';

const CONFIG = `
storage: { container: e2e-outage }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  quick:
    schedule: "0 4 * * *"
    verify: { restoreTest: false }
targets:
  - { id: ok-db, kind: postgres, url: "\${OK_DB_URL}", policy: quick }
`;

/** The verify queue's job of a backup. */
const verifyJobId = (backupId: string): string =>
  JOBS.verify.jobId({ v: 1, backupId, targetId: 'ok-db', restoreTest: false });

describe('outages and poisoned input against the running services', () => {
  const db = uniqueName('tmc_outage').replaceAll('-', '_');
  let stack: TestStack;
  let probe: OutageProbe;

  /** A backup that is uploaded while the verifier is stopped, so its verification starts when we say. */
  const uploadedWithVerifierStopped = async (): Promise<string> => {
    await stack.stopService('verifier');
    const started = await stack.cli(['backup', 'ok-db']);
    assert.equal(started.code, 0, started.stderr);
    const backupId = backupIdOf(started.stdout);
    await waitFor(async () => (await probe.events(backupId, 'uploaded')).length > 0, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: 'the backup to be uploaded',
    });
    return backupId;
  };

  before(async () => {
    await withClient(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE ${db}`));
    await withClient(dbUrl(db), (c) =>
      c.query(
        `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 2000) i`,
      ),
    );
    stack = await TestStack.start({
      config: CONFIG,
      env: {
        OK_DB_URL: dbUrl(db),
        TIDEMARK_RECONCILE_INTERVAL_MS: '1000',
        TIDEMARK_RECONCILE_STUCK_AFTER_MS: '5000',
      },
      redisDb: 14,
    });
    probe = new OutageProbe(stack);
  });

  after(async () => {
    await probe.close();
    await stack.stop();
    await dropDatabase(db);
  });

  describe('Blob Storage outages and stuck backups', () => {
    test('outlasted: retried through 20 s of outage (past the old 3-attempt budget), then verified, no backup.failed', async () => {
      const backupId = await uploadedWithVerifierStopped();
      await stack.azurite.stop();
      const outageStarted = Date.now();
      try {
        // The verifier cannot become ready without Blob Storage; its worker runs all the same.
        await stack.startService('verifier');
        await waitFor(
          async () => {
            const job = await probe.queue('verify').getJob(verifyJobId(backupId));
            if ((await job?.getState()) === 'failed')
              throw new Error(`the verify job gave up inside the outage: ${job?.failedReason ?? ''}`);
            return (job?.attemptsMade ?? 0) >= 4 && Date.now() - outageStarted >= 20_000;
          },
          { timeoutMs: 90_000, intervalMs: 250, what: 'four failed verify attempts and 20 s of outage' },
        );
        assert.deepEqual(await probe.events(backupId, 'failed'), [], 'no backup.failed during the outage');
      } finally {
        await stack.azurite.start();
      }
      await waitFor(async () => (await probe.events(backupId, 'verified')).length > 0, {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: 'the backup to be verified once Blob Storage returned',
      });
      assert.equal((await probe.manifest(backupId)).status, 'verified');
      assert.equal((await probe.events(backupId, 'failed')).length, 0);
      await stack.waitReady('verifier');
    });

    test('a failure that cannot be recorded is recorded later by the reconciler, with exactly one backup.failed', async () => {
      const backupId = await uploadedWithVerifierStopped();
      await stack.azurite.stop();
      try {
        // A 2 s budget for outages: the verify job fails for good inside the outage, when no manifest can be written.
        await stack.startService('verifier', { TIDEMARK_UNAVAILABLE_RETRY_MS: '2000' });
        await waitFor(
          async () =>
            (await (await probe.queue('verify').getJob(verifyJobId(backupId)))?.getState()) === 'failed',
          { timeoutMs: 90_000, intervalMs: 250, what: 'the verify job to fail for good' },
        );
        // The catalog still says `uploaded` (it could not be told otherwise), so no event may say `failed` yet.
        await sleep(1500);
        assert.deepEqual(
          await probe.events(backupId, 'failed'),
          [],
          'no backup.failed before it is recorded',
        );
        const redis = new Redis(stack.redisUrl);
        try {
          assert.ok(await redis.hexists('tidemark:pending-failures', `ok-db/${backupId}`), 'failure parked');
        } finally {
          await redis.quit();
        }
      } finally {
        await stack.azurite.start();
      }
      await waitFor(async () => (await probe.events(backupId, 'failed')).length > 0, {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: 'the reconciler to record the failure and publish it',
      });
      const manifest = await probe.manifest(backupId);
      assert.equal(manifest.status, 'failed');
      assert.equal(manifest.failure?.stage, 'verify');
      assert.equal(manifest.failure.code, 'unavailable');
      // A few more reconciler passes: still exactly one event, and it says what the manifest says.
      await sleep(3000);
      const failed = await probe.events(backupId, 'failed');
      assert.equal(failed.length, 1, 'exactly one backup.failed');
      const [event] = failed;
      assert.ok(event);
      assert.equal(event.data.stage, 'verify');
      assert.equal(event.data.error?.code, 'unavailable');
      assert.match(stack.logs('scheduler'), /recorded a failure that could not be written when it happened/);
      await stack.restartService('verifier');
    });

    test('a lost verify job: the reconciler finds the backup stuck `uploaded` and enqueues its verification again', async () => {
      const backupId = await uploadedWithVerifierStopped();
      // As if Redis had lost it (a flush, a failover to an empty replica).
      await probe.queue('verify').remove(verifyJobId(backupId));
      await stack.startService('verifier');
      await stack.waitReady('verifier');
      await waitFor(async () => (await probe.events(backupId, 'verified')).length > 0, {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: 'the stuck backup to be verified',
      });
      assert.equal((await probe.manifest(backupId)).status, 'verified');
      assert.match(stack.logs('scheduler'), /stuck backup: verify enqueued again/);
      assert.equal((await probe.events(backupId, 'failed')).length, 0);
    });

    test('a live job is never fought: a waiting verify job past the bound is left alone', async () => {
      const backupId = await uploadedWithVerifierStopped();
      const leftAlone = new RegExp(`${backupId}[^\\n]*stuck backup: left alone`);
      await waitFor(() => Promise.resolve(leftAlone.test(stack.logs('scheduler'))), {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: 'the reconciler to see the stuck backup and leave it alone',
      });
      const job = await probe.queue('verify').getJob(verifyJobId(backupId));
      assert.equal(await job?.getState(), 'waiting', 'the same job, untouched');
      await stack.startService('verifier');
      await stack.waitReady('verifier');
      await waitFor(async () => (await probe.events(backupId, 'verified')).length > 0, {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: 'the backup to be verified',
      });
      assert.equal((await probe.events(backupId, 'verified')).length, 1, 'verified once');
      assert.equal((await probe.events(backupId, 'failed')).length, 0);
    });

    test('a stuck backup that cannot go on is failed: manifest and exactly one backup.failed, code stuck', async () => {
      const backupId = await uploadedWithVerifierStopped();
      const blobName = (await probe.manifest(backupId)).locations.remote?.blobName;
      assert.ok(blobName);
      await BlobServiceClient.fromConnectionString(stack.azurite.connectionString)
        .getContainerClient('e2e-outage')
        .deleteBlob(blobName);
      // Blob first: a pass in between must not find a committed blob without a job, which it would resume.
      await probe.queue('verify').remove(verifyJobId(backupId));
      await waitFor(async () => (await probe.events(backupId, 'failed')).length > 0, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: 'the reconciler to fail the backup',
      });
      const manifest = await probe.manifest(backupId);
      assert.equal(manifest.status, 'failed');
      assert.equal(manifest.failure?.code, 'stuck');
      assert.match(manifest.failure.message, /its blob is not in Blob Storage/);
      await sleep(3000);
      assert.equal((await probe.events(backupId, 'failed')).length, 1, 'exactly one backup.failed');
      await stack.startService('verifier');
      await stack.waitReady('verifier');
    });
  });

  describe('poisoned input on every entry', () => {
    test('malformed, oversized and wrong-version jobs fail at once, with the reason, marking no backup', async () => {
      const added = [];
      for (const poison of POISON_JOBS) {
        // As a careless sender would: with retries asked for, which a poisoned job must not get.
        const job = await probe
          .queue(poison.queue)
          .add(poison.name, poison.data, { attempts: 5, backoff: 100 });
        added.push({ poison, job });
      }
      for (const { poison, job } of added) {
        const label = `${poison.queue}/${poison.name} ${poison.what}`;
        await waitFor(async () => (await job.getState()) === 'failed', {
          timeoutMs: 30_000,
          intervalMs: 200,
          what: `the ${label} job to fail`,
        });
        const failed = await probe.queue(poison.queue).getJob(String(job.id));
        assert.ok(failed, label);
        assert.equal(failed.attemptsMade, 1, `${label}: not retried`);
        assert.match(failed.failedReason, poison.reason, label);
      }
      for (const service of ['dumper', 'uploader', 'verifier', 'retention', 'scheduler'] as const)
        assert.match(
          stack.logs(service),
          /rejected a job that is not valid input/,
          `${service} logs the reason`,
        );
      assert.deepEqual(await probe.events(POISON_BACKUP_ID), [], 'no event about the backup the jobs named');
    });

    test('garbage on the event stream is skipped and acknowledged; retention goes on with the next event', async () => {
      const redis = new Redis(stack.redisUrl);
      try {
        for (const fields of POISON_EVENTS)
          await redis.xadd('tidemark:events', '*', ...Object.entries(fields).flat());
        // A good backup after all the poison: every stage, and retention on its backup.verified event.
        const result = await stack.cli(['backup', 'ok-db', '--wait', '--timeout', '120']);
        assert.equal(result.code, 0, result.stderr);
        const backupId = backupIdOf(result.stdout);
        assert.equal((await probe.manifest(backupId)).status, 'verified');
        await waitFor(
          async () =>
            (await probe.bus.history({ targetId: 'ok-db' })).some(
              (e) =>
                e.event.type === 'tidemark.retention.applied' &&
                Date.parse(e.event.time) > Date.now() - 60_000,
            ),
          { timeoutMs: 30_000, intervalMs: 250, what: 'retention to run on the verified backup' },
        );
        const pending = (await redis.xpending('tidemark:events', 'retention')) as [number, ...unknown[]];
        assert.equal(pending[0], 0, 'nothing left unacknowledged');
        assert.match(stack.logs('retention'), /skipping a malformed event entry/);
      } finally {
        await redis.quit();
      }
    });

    test('the REST API answers bad input with problem details, never a stack trace', async () => {
      const base = `http://127.0.0.1:${stack.service('scheduler').port}`;
      const cases: { what: string; path: string; init?: RequestInit; status: number; detail: RegExp }[] = [
        {
          what: 'unknown target',
          path: '/targets/nope/backups',
          status: 404,
          detail: /unknown target "nope"/,
        },
        {
          what: 'malformed id',
          path: '/targets/Bad%20Id!/backups',
          status: 400,
          detail: /"Bad Id!" is not a target id/,
        },
        {
          what: 'bad JSON body',
          path: '/targets/ok-db/backups',
          init: { headers: { 'content-type': 'application/json' }, body: '{"trigger": ' },
          status: 400,
          detail: /not valid JSON/,
        },
        {
          what: 'oversized body',
          path: '/targets/ok-db/backups',
          init: {
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ padding: 'x'.repeat(100_000) }),
          },
          status: 413,
          detail: /larger than 16384 bytes/,
        },
        { what: 'unknown route', path: '/nowhere', status: 404, detail: /Cannot POST \/nowhere/ },
      ];
      for (const c of cases) {
        const response = await fetch(`${base}${c.path}`, { method: 'POST', ...c.init });
        const text = await response.text();
        assert.equal(response.status, c.status, `${c.what}: ${text}`);
        assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/, c.what);
        const body = JSON.parse(text) as Record<string, unknown>;
        assert.equal(body['status'], c.status, c.what);
        assert.equal(typeof body['type'], 'string', c.what);
        assert.equal(typeof body['title'], 'string', c.what);
        assert.match(String(body['detail']), c.detail, c.what);
        assert.doesNotMatch(text, /\n\s+at |\.ts:\d+|node_modules/, `${c.what}: no stack trace`);
      }
    });
  });
});
