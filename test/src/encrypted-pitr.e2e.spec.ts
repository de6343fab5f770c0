import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { AzureBlobStore } from '@tidemark/storage';
import {
  asPostgres,
  freePort,
  PG_BIN,
  startScratchCluster,
  waitFor,
  type ScratchCluster,
  TickWriter,
} from '@tidemark/testing';
import { WalArchive } from '@tidemark/wal-archive';
import { RedisServer } from './support/redis-server';
import { TestStack } from './support/stack';

const TARGET = 'sealed-cluster';

/**
 * A physical target whose policy encrypts: the archiver stores its WAL as `.zst.age`, the base backup is
 * `.tar.zst.age`, the verifier's restore test recovers the backup from the encrypted archive, and a restore to
 * the latest point brings every committed row back.
 */
describe('point-in-time recovery of an encrypted physical target (real PostgreSQL, archiver, Azurite)', () => {
  let cluster: ScratchCluster;
  let redis: RedisServer;
  let stack: TestStack;
  let archive: WalArchive;
  let work: string;
  let writer: TickWriter;
  let identity: string;
  let base: Manifest;
  const started: string[] = [];

  const archivedUpToLastCommit = async (): Promise<void> => {
    const last = writer.ticks.at(-1)?.committedAt.getTime() ?? 0;
    await waitFor(
      async () =>
        (await archive.list(TARGET)).some(
          (file) => file.kind !== 'history' && new Date(file.metadata?.receivedat ?? 0).getTime() >= last,
        ),
      { timeoutMs: 90_000, intervalMs: 250, what: 'WAL received after the last commit in the archive' },
    );
  };

  before(async () => {
    identity = await generateX25519Identity();
    cluster = await startScratchCluster({ walSegmentMiB: 1, settings: ['track_commit_timestamp = on'] });
    work = await mkdtemp(join(tmpdir(), 'tidemark-sealed-pitr-'));
    await chmod(work, 0o755);
    writer = new TickWriter(cluster);
    await writer.createTable();
    const local = join(work, 'local');
    await mkdir(local, { mode: 0o755 });
    redis = await RedisServer.start();
    stack = await TestStack.start({
      config: `
storage: { container: sealed-pitr }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  sealed:
    schedule: "0 3 * * *"
    verify: { restoreTest: true }
    encryption: { recipients: ["\${OPS_RECIPIENT}"], identity: "\${AGE_IDENTITY}" }
targets:
  - id: ${TARGET}
    kind: postgres
    method: physical
    url: "\${SEALED_REPL_URL}"
    policy: sealed
    pitr: { windowDays: 7, shipPartialSeconds: 2, maxLagSeconds: 120 }
`,
      env: {
        SEALED_REPL_URL: cluster.replicationUrl,
        TIDEMARK_PG_BIN: PG_BIN,
        TIDEMARK_ARCHIVER_ACQUIRE_INTERVAL_MS: '500',
        TIDEMARK_ARCHIVER_LEASE_TTL_MS: '6000',
        OPS_RECIPIENT: await identityToRecipient(identity),
        AGE_IDENTITY: identity,
      },
      redisUrl: redis.url,
      archiver: true,
      localDir: local,
    });
    archive = new WalArchive(
      AzureBlobStore.fromConnectionString(stack.azurite.connectionString, 'sealed-pitr'),
      {
        identities: [identity],
      },
    );
    await writer.write(6, 3, 50);
    await archivedUpToLastCommit();
  });

  after(async () => {
    for (const dir of started)
      await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dir, '-m', 'immediate', '-w', 'stop']).catch(
        () => undefined,
      );
    await stack.stop();
    await redis.destroy();
    await cluster.remove();
    await rm(work, { recursive: true, force: true });
  });

  test('the WAL is stored encrypted; stock age and zstd read a segment, history files stay plain', async () => {
    const files = await archive.list(TARGET);
    const segments = files.filter((file) => file.kind === 'segment');
    assert.ok(segments.length > 0);
    for (const file of files.filter((f) => f.kind !== 'history')) {
      assert.equal(file.encrypted, true, file.blobName);
      assert.match(file.blobName, /\.zst\.age$/);
    }
    const [first] = segments;
    assert.ok(first);
    const blob = await AzureBlobStore.fromConnectionString(
      stack.azurite.connectionString,
      'sealed-pitr',
    ).download(first.blobName);
    const chunks: Buffer[] = [];
    for await (const chunk of blob.stream) chunks.push(chunk as Buffer);
    const key = join(work, 'age.key');
    await writeFile(key, identity, { mode: 0o600 });
    const zst = execFileSync('age', ['-d', '-i', key], {
      input: Buffer.concat(chunks),
      maxBuffer: 64 * 1024 ** 2,
    });
    const raw = execFileSync('zstd', ['-dc'], { input: zst, maxBuffer: 64 * 1024 ** 2 });
    assert.equal(raw.length, first.metadata?.size);
  });

  test('an encrypted base backup is verified by recovering it from the encrypted WAL archive', async () => {
    const result = await stack.cli(['backup', TARGET, '--wait', '--json', '--timeout', '300']);
    assert.equal(result.code, 0, result.stderr + result.stdout + stack.logs('verifier'));
    const { backupId } = JSON.parse(result.stdout) as { backupId: string };
    base = parseManifest(JSON.parse((await stack.cli(['show', backupId])).stdout));
    assert.equal(base.status, 'verified');
    assert.equal(base.artifact.encryption, 'age');
    assert.match(base.artifact.name, /\.tar\.zst\.age$/);
    const names = (base.verification?.restoreTest?.checks ?? []).map((check) => check.name);
    assert.ok(names.includes('recovery'), names.join(', '));
  });

  test('restore --latest decrypts the base backup and the WAL: every committed row comes back', async () => {
    await writer.write(8, 4, 50);
    await archivedUpToLastCommit();
    const to = join(work, 'latest');
    const port = await freePort();
    const result = await stack.cli([
      'restore',
      TARGET,
      '--latest',
      '--to',
      to,
      '--start',
      '--port',
      String(port),
    ]);
    started.push(to);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`restored base backup ${base.backupId}`));
    assert.deepEqual(
      await TickWriter.rowsOn(port),
      writer.ticks.map((t) => t.id),
    );
  });
});
