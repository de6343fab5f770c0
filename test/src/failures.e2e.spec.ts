import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { parseManifest } from '@tidemark/manifest';
import { QUEUE_PREFIX } from '@tidemark/queues';
import { uniqueName, waitFor } from '@tidemark/testing';
import { Queue } from 'bullmq';
import { dbUrl, dropDatabase, withClient } from './support/database';
import { runCli, TestStack } from './support/stack';

const POLICY = `
policies:
  quick:
    schedule: "0 4 * * *"
    verify: { restoreTest: false }
`;

function config(minFreeBytes = 1048576): string {
  return `
storage: { container: e2e-failures }
local: { path: __LOCAL__, minFreeBytes: ${minFreeBytes} }
${POLICY}
targets:
  - { id: ok-db, kind: postgres, url: "\${OK_DB_URL}", policy: quick }
  - { id: down-db, kind: postgres, url: "postgres://postgres@127.0.0.1:1/nowhere", policy: quick }
`;
}

async function cliConfigError(yaml: string): Promise<{ code: number; stderr: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-config-'));
  try {
    await writeFile(join(dir, 'bad.yaml'), yaml);
    const result = await runCli(['targets', '--config', join(dir, 'bad.yaml')], {
      ...process.env,
      REDIS_URL: 'redis://127.0.0.1:6379/13',
    });
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('invalid config: one clear error naming the path, no stack trace', () => {
  const target = `targets:\n  - { id: a, kind: postgres, url: "postgres://x@127.0.0.1/a", policy: quick }\n`;
  const cases: [string, string, RegExp][] = [
    [
      'bad cron',
      POLICY.replace('0 4 * * *', '61 * * * *') + target,
      /policies\.quick\.schedule: "61 \* \* \* \*" is not a valid cron expression/,
    ],
    [
      'unknown policy',
      POLICY + target.replace('policy: quick', 'policy: gold'),
      /targets\[0\]\.policy: unknown policy "gold" \(known: quick\)/,
    ],
    [
      'duplicate id',
      POLICY + target + target.replace('targets:\n', ''),
      /targets\[1\]\.id: duplicate target id "a" \(also targets\[0\]\)/,
    ],
  ];
  for (const [name, yaml, expected] of cases) {
    test(name, async () => {
      const result = await cliConfigError(yaml);
      assert.equal(result.code, 1);
      assert.match(result.stderr, expected);
      assert.match(result.stderr, /^tidemark: /);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});

describe('failure paths against the running services', () => {
  const okDb = uniqueName('e2e_ok').replaceAll('-', '_');
  let stack: TestStack;
  let bus: RedisStreamEventBus;
  let scratch: string;

  const events = async (backupId: string): Promise<TidemarkEvent[]> =>
    (await bus.history({ backupId })).map((e) => e.event);
  const backupIdOf = (stdout: string): string => {
    const m = /(\d{8}T\d{6}Z-[0-9a-z]{6})/.exec(stdout);
    assert.ok(m, `no backup id in: ${stdout}`);
    return m[1] as string;
  };
  const blobNames = async (prefix: string): Promise<string[]> => {
    const container = BlobServiceClient.fromConnectionString(
      stack.azurite.connectionString,
    ).getContainerClient('e2e-failures');
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix })) names.push(blob.name);
    return names.sort();
  };
  const remoteManifest = async (targetId: string, backupId: string) => {
    const shown = await stack.cli(['show', backupId]);
    assert.equal(shown.code, 0, shown.stderr);
    const manifest = parseManifest(JSON.parse(shown.stdout));
    assert.equal(manifest.target.id, targetId);
    return manifest;
  };
  const expectOneFailure = async (backupId: string, stage: string, code: string): Promise<TidemarkEvent> => {
    const failed = (await events(backupId)).filter((e) => e.type === 'tidemark.backup.failed');
    assert.equal(failed.length, 1, 'exactly one failure event');
    const [event] = failed as [TidemarkEvent];
    assert.equal(event.severity, 'error');
    assert.equal(event.data.stage, stage);
    assert.equal(event.data.error?.code, code);
    return event;
  };

  before(async () => {
    await withClient(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE ${okDb}`));
    await withClient(dbUrl(okDb), (c) =>
      // md5 text compresses about 2:1, so the dump spans several 1 MiB parts.
      c.query(
        `CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT i, (SELECT string_agg(md5(i::text || '-' || j::text), '') FROM generate_series(1, 10) j)
         FROM generate_series(1, 30000) i`,
      ),
    );
    stack = await TestStack.start({
      config: config(),
      env: { OK_DB_URL: dbUrl(okDb), TIDEMARK_PART_SIZE_MB: '1' },
      redisDb: 12,
    });
    bus = new RedisStreamEventBus(stack.redisUrl);
    scratch = await mkdtemp(join(tmpdir(), 'tidemark-fail-'));
  });

  after(async () => {
    await bus.close();
    await stack.stop();
    await dropDatabase(okDb);
    await rm(scratch, { recursive: true, force: true });
  });

  test('database unreachable: retried, then one backup.failed and a failed manifest, no artifact', async () => {
    const result = await stack.cli(['backup', 'down-db', '--wait', '--timeout', '120']);
    assert.equal(result.code, 1);
    const backupId = backupIdOf(result.stdout);
    assert.match(result.stderr, /cannot reach PostgreSQL at 127\.0\.0\.1:1/);
    const event = await expectOneFailure(backupId, 'dump', 'source-unreachable');
    assert.equal(event.data['attempts'], 3);
    const manifest = await remoteManifest('down-db', backupId);
    assert.equal(manifest.status, 'failed');
    assert.deepEqual(await blobNames(`down-db/${backupId}/`), [`down-db/${backupId}/manifest.json`]);
  });

  test('pg_dump older than the server: fails at once with the versions', async () => {
    const fakeBin = join(scratch, 'old-bin');
    await mkdir(fakeBin);
    await writeFile(join(fakeBin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n');
    await chmod(join(fakeBin, 'pg_dump'), 0o755);
    await stack.restartService('dumper', { TIDEMARK_PG_BIN: fakeBin });
    try {
      const result = await stack.cli(['backup', 'ok-db', '--wait', '--timeout', '60']);
      assert.equal(result.code, 1);
      const event = await expectOneFailure(backupIdOf(result.stdout), 'dump', 'tool-too-old');
      assert.match(
        event.data.error?.message ?? '',
        /pg_dump 9\.6\.24 is older than the PostgreSQL \d+\.\d+ server/,
      );
    } finally {
      await stack.restartService('dumper');
    }
  });

  test('local disk below the threshold: fails before dumping, with a low_disk warning', async () => {
    const tight = join(scratch, 'tight.yaml');
    await writeFile(tight, config(2 ** 50).replaceAll('__LOCAL__', join(stack.dir, 'local')));
    await stack.restartService('dumper', { TIDEMARK_CONFIG: tight });
    try {
      const result = await stack.cli(['backup', 'ok-db', '--wait', '--timeout', '60']);
      assert.equal(result.code, 1);
      const backupId = backupIdOf(result.stdout);
      const event = await expectOneFailure(backupId, 'dump', 'disk-low');
      assert.match(event.data.error?.message ?? '', /local tier .* has \d+ MiB free; the dump needs up to/);
      assert.ok(
        (await events(backupId)).some(
          (e) => e.type === 'tidemark.storage.low_disk' && e.severity === 'warning',
        ),
      );
      assert.deepEqual(
        await readdir(join(stack.dir, 'local', 'ok-db', backupId)),
        ['manifest.json'],
        'no part written',
      );
    } finally {
      await stack.restartService('dumper');
    }
  });

  test('Blob endpoint down during upload: parts kept locally, retried, committed when it returns', async () => {
    await stack.azurite.stop();
    let backupId = '';
    try {
      const started = await stack.cli(['backup', 'ok-db']);
      assert.equal(started.code, 0, started.stderr);
      backupId = backupIdOf(started.stdout);
      await waitFor(async () => (await events(backupId)).some((e) => e.type === 'tidemark.backup.dumped'), {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: 'the dump to finish while Blob Storage is down',
      });
      const local = await readdir(join(stack.dir, 'local', 'ok-db', backupId));
      assert.ok(
        local.filter((f) => f.includes('.part-')).length >= 2,
        `parts on the local tier: ${local.join(', ')}`,
      );
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      await stack.azurite.start();
    }
    await waitFor(async () => (await events(backupId)).some((e) => e.type === 'tidemark.backup.verified'), {
      timeoutMs: 180_000,
      intervalMs: 500,
      what: 'the backup to be verified after Blob Storage returned',
    });
    assert.equal((await remoteManifest('ok-db', backupId)).status, 'verified');
    assert.deepEqual(await blobNames(`ok-db/${backupId}/`), [
      `ok-db/${backupId}/dump.pgc.zst`,
      `ok-db/${backupId}/manifest.json`,
    ]);
    assert.equal((await events(backupId)).filter((e) => e.type === 'tidemark.backup.failed').length, 0);
  });

  test('uploader killed with SIGKILL mid-upload: the job is retried and the blob committed once', async () => {
    const upload = new Queue('upload', { connection: { url: stack.redisUrl }, prefix: QUEUE_PREFIX });
    let backupId = '';
    try {
      // With Blob Storage unreachable each upload attempt stays active for seconds: a reliable moment to kill.
      await stack.azurite.stop();
      const started = await stack.cli(['backup', 'ok-db']);
      backupId = backupIdOf(started.stdout);
      await waitFor(
        async () => (await upload.getJobs(['active'])).some((j) => String(j.id).startsWith(backupId)),
        {
          timeoutMs: 60_000,
          intervalMs: 50,
          what: 'an upload job of the backup to be active',
        },
      );
      await stack.stopService('uploader', 'SIGKILL');
      await stack.azurite.start();
      await stack.startService('uploader');
      await stack.waitReady('uploader');
      await waitFor(async () => (await events(backupId)).some((e) => e.type === 'tidemark.backup.verified'), {
        timeoutMs: 240_000,
        intervalMs: 500,
        what: 'the backup to be verified after the uploader was killed',
      });
    } finally {
      await upload.close();
    }
    const all = await events(backupId);
    assert.equal(all.filter((e) => e.type === 'tidemark.backup.uploaded').length, 1, 'committed once');
    assert.deepEqual(await blobNames(`ok-db/${backupId}/`), [
      `ok-db/${backupId}/dump.pgc.zst`,
      `ok-db/${backupId}/manifest.json`,
    ]);
    assert.equal((await remoteManifest('ok-db', backupId)).status, 'verified');
  });

  test('a trigger while a dump of the same target runs is coalesced and says so', async () => {
    const [a, b] = await Promise.all([
      stack.cli(['backup', 'ok-db', '--json']),
      stack.cli(['backup', 'ok-db', '--json']),
    ]);
    const results = [a, b].map((r) => JSON.parse(r.stdout) as { backupId: string; coalesced: boolean });
    assert.equal(results.filter((r) => r.coalesced).length, 1);
    assert.equal(results[0]?.backupId, results[1]?.backupId);
    const port = stack.service('scheduler').port;
    const response = await fetch(`http://127.0.0.1:${port}/targets/ok-db/backups`, { method: 'POST' });
    assert.equal(response.status, 202);
    await waitFor(
      async () =>
        (await events(results[0]?.backupId ?? '')).some((e) => e.type === 'tidemark.backup.verified'),
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: 'the coalesced backup to finish',
      },
    );
  });

  test('a verifier without pg_restore fails the job, and never brands a good backup corrupt', async () => {
    const list = await stack.cli(['list', 'ok-db', '--json']);
    const verified = (JSON.parse(list.stdout) as { backupId: string; status: string }[]).find(
      (b) => b.status === 'verified',
    );
    assert.ok(verified, 'an earlier test left a verified backup');
    const emptyBin = join(scratch, 'no-tools');
    await mkdir(emptyBin, { recursive: true });
    await stack.restartService('verifier', { TIDEMARK_PG_BIN: emptyBin });
    try {
      const result = await stack.cli(['verify', verified.backupId, '--timeout', '120']);
      assert.equal(result.code, 1);
      const failed = (await events(verified.backupId)).filter(
        (e) => e.type === 'tidemark.backup.failed' && e.data.stage === 'verify',
      );
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.data.error?.code, 'tool-missing');
      assert.equal((await remoteManifest('ok-db', verified.backupId)).status, 'verified');
      assert.equal(
        (await events(verified.backupId)).filter((e) => e.type === 'tidemark.backup.corrupt').length,
        0,
      );
    } finally {
      await stack.restartService('verifier');
    }
  });
});
