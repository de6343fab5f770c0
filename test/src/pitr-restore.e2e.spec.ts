import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { WalReceiver } from '@tidemark/archiving';
import { StageHarness, type MemoryBlobStore } from '@tidemark/in-memory';
import type { Manifest } from '@tidemark/manifest';
import { AzureBlobStore } from '@tidemark/storage';
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  asPostgres,
  freePort,
  PG_BIN,
  startAzurite,
  startRedisServer,
  startScratchCluster,
  uniqueName,
  waitFor,
  type AzuriteHandle,
  type RedisServerHandle,
  type ScratchCluster,
  type Tick,
  TickWriter,
} from '@tidemark/testing';
import { WalArchive } from '@tidemark/wal-archive';
import { REPO_ROOT, runCli } from './support/stack';

const run = promisify(execFile);

const HARNESS_CONFIG = `
storage: { container: unit }
local: { path: __LOCAL__, minFreeBytes: 0 }
policies:
  quick:
    schedule: "0 3 * * *"
    verify: { restoreTest: false }
targets:
  - { id: cluster, kind: postgres, method: physical, url: "\${CLUSTER_URL}", policy: quick }
`;

/** Every blob of the in-memory store into Azurite, bytes, metadata and tags as they are. */
async function copyInto(from: MemoryBlobStore, to: AzureBlobStore): Promise<void> {
  for (const name of from.names()) {
    const data = from.bytes(name);
    const props = await from.properties(name);
    if (!data || !props) continue;
    const block = Buffer.from('b0').toString('base64');
    await to.stageBlock(name, block, data);
    await to.commitBlocks(name, [block], {
      metadata: props.metadata,
      tags: await from.tags(name),
      tier: 'Hot',
    });
  }
}

/**
 * Restores of a physical target through the CLI and with the README's stock-tool recipe (curl with a SAS, zstd,
 * tar, sha256sum) against Azurite: the WAL streamed by the archiver's receiver, a base backup through the stages.
 */
describe('restore to a point in time from Blob Storage (CLI and stock tools, real Azurite)', () => {
  let azurite: AzuriteHandle;
  let redis: RedisServerHandle;
  let cluster: ScratchCluster;
  let harness: StageHarness;
  let receiver: WalReceiver;
  let work: string;
  let base: Manifest;
  let env: NodeJS.ProcessEnv;
  const container = uniqueName('pitr');
  let writer: TickWriter;
  const started: string[] = [];

  const middle = (offset: number): { at: Date; expected: number[] } => {
    const k = writer.ticks[writer.ticks.length - offset] as Tick;
    const next = writer.ticks[writer.ticks.length - offset + 1] as Tick;
    const at = new Date((k.committedAt.getTime() + next.committedAt.getTime()) / 2);
    return {
      at,
      expected: writer.ticks.filter((t) => t.committedAt.getTime() <= at.getTime()).map((t) => t.id),
    };
  };
  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );

  before(async () => {
    azurite = await startAzurite();
    redis = await startRedisServer();
    cluster = await startScratchCluster({ walSegmentMiB: 1, settings: ['track_commit_timestamp = on'] });
    work = await mkdtemp(join(tmpdir(), 'tidemark-pitr-e2e-'));
    await chmod(work, 0o755);
    const store = AzureBlobStore.fromConnectionString(azurite.connectionString, container);
    await store.ensureContainer();
    const archive = new WalArchive(store);
    receiver = new WalReceiver({
      targetId: 'cluster',
      url: cluster.replicationUrl,
      sink: archive,
      directory: join(work, 'spool'),
      shipPartialSeconds: 1,
      pollMs: 100,
      retryBaseMs: 100,
    });
    writer = new TickWriter(cluster);
    await writer.createTable();
    await receiver.start();
    await writer.write(3, 2);
    harness = await StageHarness.create(HARNESS_CONFIG, {
      CLUSTER_URL: cluster.replicationUrl,
      TIDEMARK_PG_BIN: PG_BIN,
    });
    const { backupId } = await harness.pipeline.request('cluster', 'manual');
    await harness.drain();
    const found = await harness.manifests.find(backupId, 'cluster');
    assert.equal(found?.manifest.status, 'verified');
    base = found.manifest;
    await copyInto(harness.store, store);
    await writer.write(12, 4);
    await writer.write(2, 1000);
    const last = writer.ticks.at(-1)?.committedAt.getTime() ?? 0;
    await waitFor(
      async () =>
        (await archive.list('cluster')).some(
          (f) => f.kind === 'partial' && new Date(f.metadata?.receivedat ?? 0).getTime() >= last,
        ),
      { timeoutMs: 30_000, intervalMs: 200, what: 'the partial holding the last commit' },
    );
    await receiver.stop({ ship: false });
    const configPath = join(work, 'tidemark.yaml');
    await writeFile(
      configPath,
      HARNESS_CONFIG.replace('container: unit', `container: ${container}`).replace(
        '__LOCAL__',
        join(work, 'local'),
      ),
    );
    env = {
      ...process.env,
      TIDEMARK_CONFIG: configPath,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      REDIS_URL: redis.url,
      CLUSTER_URL: cluster.replicationUrl,
      TIDEMARK_PG_BIN: PG_BIN,
    };
  });

  after(async () => {
    await receiver.stop({ ship: false }).catch(() => undefined);
    for (const dir of started)
      await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dir, '-m', 'immediate', '-w', 'stop']).catch(
        () => undefined,
      );
    await harness.dispose();
    await cluster.remove();
    await redis.stop();
    await azurite.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('bad flags are one clear line each, before anything is read', async () => {
    const cases: [string[], RegExp][] = [
      [['--at', 'yesterday'], /--at: "yesterday" is not an ISO time/],
      [['--at', '2026-12-03T11:00:00Z', '--latest'], /--at and --latest: name one recovery target/],
      [['--lsn', '12345'], /--lsn: "12345" is not a WAL position/],
      [['--start'], /--start: name the port with --port/],
      [['--start', '--port', '70000'], /--port: "70000" is not a port number/],
      [['--database', 'postgres'], /--database: a point-in-time restore brings back the whole cluster/],
    ];
    for (const [flags, expected] of cases) {
      const result = await runCli(['restore', 'cluster', '--to', join(work, 'never'), ...flags], env);
      assert.equal(result.code, 1, flags.join(' '));
      assert.match(result.stderr, expected);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
    const logical = await runCli(['restore', 'plain-db', '--lsn', '0/1', '--to', join(work, 'never')], env);
    assert.equal(logical.code, 1);
    assert.match(logical.stderr, /--lsn: only for targets with base backups and a WAL archive/);
    assert.equal(await exists(join(work, 'never')), false);
  });

  test('restore --at before the base backup ended is refused with the window; nothing is written', async () => {
    const to = join(work, 'early');
    const at = (writer.ticks[0] as Tick).committedAt.toISOString();
    const result = await runCli(['restore', 'cluster', '--at', at, '--to', to], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${at.replace(/[.]/g, '\\.')} cannot be reached: restorable: `));
    assert.ok(result.stderr.includes(new Date(base.content.physical?.stoppedAt ?? 0).toISOString()));
    assert.equal(await exists(to), false);
  });

  test('restore --at <middle> --start --port: exactly the rows committed up to then', async () => {
    const { at, expected } = middle(6);
    const to = join(work, 'cli-middle');
    const port = await freePort();
    const result = await runCli(
      ['restore', 'cluster', '--at', at.toISOString(), '--to', to, '--start', '--port', String(port)],
      env,
    );
    started.push(to);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`restored base backup ${base.backupId} and \\d+ WAL file\\(s\\)`));
    assert.match(result.stdout, new RegExp(`started on port ${String(port)}; recovery ended`));
    assert.deepEqual(await TickWriter.rowsOn(port), expected);
  });

  test("the README's recipe with curl, a SAS, zstd, tar and sha256sum alone", async () => {
    const { at, expected } = middle(4);
    const data = join(work, 'stock');
    const port = await freePort();
    const sas = generateBlobSASQueryParameters(
      {
        containerName: container,
        permissions: ContainerSASPermissions.parse('rl'),
        expiresOn: new Date(Date.now() + 3_600_000),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY),
    ).toString();
    const script = join(work, 'recipe.sh');
    await writeFile(script, readmeRecipe(), { mode: 0o755 });
    await run('bash', [script], {
      cwd: work,
      env: {
        PATH: `${PG_BIN}:${process.env['PATH'] ?? ''}`,
        BLOB: `${azurite.blobEndpoint}/${container}`,
        SAS: sas,
        TARGET: 'cluster',
        BACKUP: base.backupId,
        // As the recipe says: PostgreSQL's recovery_target_time refuses ISO 8601's T and Z.
        AT: `${at.toISOString().replace('T', ' ').replace('Z', '')}+00`,
        DATA: data,
        PORT: String(port),
      },
      timeout: 180_000,
    });
    started.push(data);
    assert.deepEqual(await TickWriter.rowsOn(port), expected);
  });
});

/**
 * The README's recipe ("Restore to a time with stock tools alone") as written there, so the test fails when the
 * README does: its variable lines give way to the test's environment, `sudo -u postgres` to runuser (the test runs
 * as root), port 5433 to a free one on loopback; then it waits until recovery has ended.
 */
function readmeRecipe(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const heading = readme.indexOf('### Restore to a time with stock tools alone');
  assert.ok(heading >= 0, 'the README has the stock-tools recipe');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(heading))?.[1];
  assert.ok(block, 'the recipe is a sh block');
  const steps = block
    .split('\n')
    .filter((line) => !/^(BLOB|SAS|TARGET|BACKUP|AT|DATA)=/.test(line))
    .join('\n')
    .replaceAll('sudo -u postgres ', '$AS ')
    .replaceAll('-c port=5433', '-c port=$PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp')
    .replaceAll('psql -p 5433', 'psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres');
  assert.ok(steps.includes('$AS pg_ctl'), 'the recipe starts PostgreSQL as postgres');
  return `set -euo pipefail
if [ "$(id -u)" = 0 ]; then AS="runuser -u postgres --"; else AS=; fi
${steps}
for i in $(seq 1 100); do
  [ "$(psql -h 127.0.0.1 -p "$PORT" -U postgres -Atc 'SELECT pg_is_in_recovery()' postgres 2>/dev/null)" = f ] && exit 0
  sleep 0.2
done
echo "recovery did not end" >&2; exit 1
`;
}
