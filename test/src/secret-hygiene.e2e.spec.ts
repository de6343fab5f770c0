import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { Redis } from 'ioredis';
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  startScratchCluster,
  uniqueName,
  type ScratchCluster,
} from '@tidemark/testing';
import { dbUrl, withClient } from './support/database';
import { RedisServer } from './support/redis-server';
import {
  ArgvSampler,
  blobSources,
  describeHits,
  findCanaries,
  localTierSources,
  redisSources,
  RedisMonitor,
  type Canary,
  type CanarySource,
} from './support/secret-scan';
import { hashApiKey } from '@tidemark/api-auth';
import { SERVICE_NAMES, TestStack } from './support/stack';
import { mysqlTables, withMysql } from './support/stores';

// Every kind, one encrypting policy; every secret arrives through ${VAR}s, as a deployment gives them.
const CONFIG = `
storage: { container: e2e-hygiene }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
api: { auth: { apiKeys: [{ name: hygiene, sha256: __API_KEY_SHA256__ }] } }
policies:
  sealed:
    schedule: "0 3 * * *"
    compression: zstd
    verify: { restoreTest: true }
    encryption:
      recipients: ["\${AGE_RECIPIENT}"]
      identity: "\${AGE_IDENTITY}"
targets:
  - { id: hy-pg, kind: postgres, url: "\${HY_PG_URL}", policy: sealed }
  - { id: hy-my, kind: mysql, url: "\${HY_MY_URL}", policy: sealed }
  - { id: hy-lite, kind: sqlite, url: "\${HY_LITE_PATH}", policy: sealed }
  - { id: hy-dir, kind: directory, url: "\${HY_DIR_PATH}", policy: sealed }
  - { id: hy-blob, kind: azure-blob, url: "\${HY_BLOB_URL}", policy: sealed }
  - id: hy-phys
    kind: postgres
    method: physical
    url: "\${HY_PHYS_URL}"
    policy: sealed
    pitr: { windowDays: 7, shipPartialSeconds: 2 }
`;

/** A password that differs from its URL-encoded form, so both spellings are looked for. */
function canaryPassword(tag: string): string {
  return `${tag}+${randomBytes(9).toString('hex')}/Pw`;
}

function containerSas(container: string, permissions: string): string {
  return generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse(permissions),
      startsOn: new Date(Date.now() - 60_000),
      expiresOn: new Date(Date.now() + 3 * 3_600_000 + Math.floor(Math.random() * 3_600_000)),
    },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY),
  ).toString();
}

function sigOf(sas: string): string {
  return new URLSearchParams(sas).get('sig') ?? '';
}

describe('secret hygiene: no canary secret in argv, logs, events, Redis, manifests, metadata or CLI output', () => {
  const suffix = uniqueName('hy').replaceAll('-', '_');
  const pgRole = `hy_role_${suffix}`;
  const pgDb = `hy_pg_${suffix}`;
  const pgRestored = `hy_pg_dst_${suffix}`;
  const myUser = `hy_u_${suffix}`.slice(0, 80);
  const myDb = `hy_my_${suffix}`;
  const myRestored = `hy_my_dst_${suffix}`;
  const pgPassword = canaryPassword('pg');
  const myPassword = canaryPassword('my');
  const sourceSas = containerSas('hy-media', 'rl');
  const restoreSas = containerSas('hy-media-restored', 'racwdl');
  let identity: string;
  const apiKey = `tmk_${randomBytes(24).toString('base64url')}`;
  let canaries: Canary[];
  let redis: RedisServer;
  let monitor: RedisMonitor;
  let sampler: ArgvSampler | undefined;
  let stack: TestStack;
  // A cluster of the test's own: the machine's refuses replication. Its role's password is a canary too.
  let cluster: ScratchCluster | undefined;
  let work = '';
  const cliOutput: CanarySource[] = [];

  const pgUrl = (database: string) =>
    `postgres://${pgRole}:${encodeURIComponent(pgPassword)}@127.0.0.1:5432/${database}`;
  const myUrl = (database: string) =>
    `mysql://${myUser}:${encodeURIComponent(myPassword)}@127.0.0.1:3306/${database}`;

  /** Runs the CLI and keeps what it printed for the scan. */
  const cli = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const result = await stack.cli(args, env);
    const label = `tidemark ${args.join(' ')}`;
    cliOutput.push({ where: `stdout of ${label}`, text: result.stdout });
    cliOutput.push({ where: `stderr of ${label}`, text: result.stderr });
    return result;
  };
  const backup = async (target: string, env: NodeJS.ProcessEnv = {}): Promise<string> => {
    const result = await cli(['backup', target, '--wait', '--json', '--timeout', '300'], env);
    const output = JSON.parse(result.stdout) as {
      backupId: string;
      status: string;
      manifest?: { failure?: unknown };
    };
    assert.equal(
      output.status,
      'verified',
      `${target}: ${result.stderr}${JSON.stringify(output.manifest?.failure)}`,
    );
    return output.backupId;
  };
  const restore = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> => {
    const result = await cli(['restore', ...args, '--json'], env);
    assert.equal(result.code, 0, result.stderr + result.stdout);
  };
  const serviceLogs = (): CanarySource[] =>
    stack.names.flatMap((name) =>
      stack.replicaLogs(name).map((text, replica) => ({ where: `log of ${name} #${replica}`, text })),
    );
  /** Every place but argv and MONITOR (those run on until stopped). */
  const storedSources = async (): Promise<CanarySource[]> => {
    const events = await cli(['events', '--json', '--limit', '100000']);
    assert.equal(events.code, 0, events.stderr);
    return [
      ...serviceLogs(),
      { where: 'the events (tidemark events --json)', text: events.stdout },
      ...(await redisSources(redis.url)),
      ...(await blobSources(stack.azurite.connectionString)),
      ...(await localTierSources(join(work, 'local'))),
      ...cliOutput,
    ];
  };

  before(async () => {
    identity = await generateX25519Identity();
    cluster = await startScratchCluster();
    const replicationPassword = decodeURIComponent(new URL(cluster.replicationUrl).password);
    assert.ok(replicationPassword.length >= 16, 'the scratch cluster has a real password');
    canaries = [
      { name: 'replication role password', value: replicationPassword },
      { name: 'PostgreSQL password', value: pgPassword },
      { name: 'MariaDB password', value: myPassword },
      // Bech32 is case-insensitive: a lower-cased key is the same key.
      {
        name: 'age identity',
        value: identity,
        forms: [{ label: 'lower case', text: identity.toLowerCase() }],
      },
      { name: 'source container SAS signature', value: sigOf(sourceSas) },
      { name: 'restore container SAS signature', value: sigOf(restoreSas) },
      // Azurite's key is the same everywhere: looked for only in the stack's own places and processes.
      { name: 'storage account key', value: AZURITE_ACCOUNT_KEY, stackOnly: true },
      { name: 'API key', value: apiKey },
    ];

    await withClient(dbUrl('postgres'), async (c) => {
      await c.query(`CREATE ROLE ${pgRole} LOGIN CREATEDB PASSWORD '${pgPassword}'`);
      await c.query(`CREATE DATABASE ${pgDb} OWNER ${pgRole}`);
      await c.query(`CREATE DATABASE ${pgRestored} OWNER ${pgRole}`);
    });
    // The local server trusts 127.0.0.1; the password still travels through the URL and the tools' env.
    await withClient(`postgres://${pgRole}@127.0.0.1:5432/${pgDb}`, (c) =>
      c.query(`CREATE TABLE orders (id int PRIMARY KEY, note text);
        INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 5000) g;`),
    );
    await withMysql(undefined, (c) =>
      c.query(`CREATE DATABASE ${myDb}; CREATE DATABASE ${myRestored};
        CREATE USER '${myUser}'@'%' IDENTIFIED BY '${myPassword}';
        GRANT ALL PRIVILEGES ON \`${myDb}\`.* TO '${myUser}'@'%';
        GRANT ALL PRIVILEGES ON \`${myRestored}\`.* TO '${myUser}'@'%';
        GRANT ALL PRIVILEGES ON \`tidemark\\_verify\\_%\`.* TO '${myUser}'@'%';
        GRANT ALL PRIVILEGES ON \`tidemark\\_restore\\_%\`.* TO '${myUser}'@'%';
        GRANT ALL PRIVILEGES ON \`tidemark\\_replaced\\_%\`.* TO '${myUser}'@'%';
        USE ${myDb};
        CREATE TABLE ${myDb}.items (id INT PRIMARY KEY, name VARCHAR(100));
        INSERT INTO ${myDb}.items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_3000;`),
    );
    work = await mkdtemp(join(tmpdir(), 'tidemark-hygiene-'));
    // The verifier recovers the physical backup as postgres, in a scratch directory of the local tier.
    await chmod(work, 0o755);
    await mkdir(join(work, 'local'), { mode: 0o755 });
    const lite = new DatabaseSync(join(work, 'app.db'));
    lite.exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
      INSERT INTO notes (body) SELECT 'note ' || i FROM n;`);
    lite.close();
    await mkdir(join(work, 'files', 'sub'), { recursive: true });
    await writeFile(join(work, 'files', 'a.txt'), 'alpha\n'.repeat(5000));
    await writeFile(join(work, 'files', 'sub', 'b.bin'), randomBytes(100_000));

    redis = await RedisServer.start();
    monitor = await RedisMonitor.start(redis.url);
    sampler = ArgvSampler.start();
    stack = await TestStack.start({
      config: CONFIG.replace('__API_KEY_SHA256__', hashApiKey(apiKey)),
      redisUrl: redis.url,
      archiver: true,
      localDir: join(work, 'local'),
      env: {
        HY_PG_URL: pgUrl(pgDb),
        HY_MY_URL: myUrl(myDb),
        HY_LITE_PATH: join(work, 'app.db'),
        HY_DIR_PATH: join(work, 'files'),
        HY_BLOB_URL: `__AZURITE_BLOB__/hy-media?${sourceSas}`,
        HY_PHYS_URL: cluster.replicationUrl,
        AGE_RECIPIENT: await identityToRecipient(identity),
        AGE_IDENTITY: identity,
      },
    });
    const service = BlobServiceClient.fromConnectionString(stack.azurite.connectionString);
    const media = service.getContainerClient('hy-media');
    await media.create();
    for (let i = 0; i < 5; i++)
      await media.getBlockBlobClient(`photos/${i}.jpg`).uploadData(randomBytes(20_000));
    await service.getContainerClient('hy-media-restored').create();
  });

  after(async () => {
    await sampler?.stop().catch(() => undefined);
    // Each may be unset when before() failed part way.
    (monitor as RedisMonitor | undefined)?.stop();
    await (stack as TestStack | undefined)?.stop();
    await (redis as RedisServer | undefined)?.destroy();
    await cluster?.remove();
    if (work) await rm(work, { recursive: true, force: true });
    await withClient(dbUrl('postgres'), async (c) => {
      for (const db of [pgDb, pgRestored]) await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS ${pgRole}`);
    });
    await withMysql(undefined, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${myDb}; DROP DATABASE IF EXISTS ${myRestored};
        DROP USER IF EXISTS '${myUser}'@'%';`),
    );
  });

  test('the scanner names each place holding a canary, in any spelling, and masks it', () => {
    const planted: Canary[] = [
      { name: 'db password', value: 'pw+secret/1' },
      {
        name: 'key',
        value: 'AGE-SECRET-KEY-1ABC',
        forms: [{ label: 'lower case', text: 'age-secret-key-1abc' }],
      },
      { name: 'fixed key', value: 'FIXED', stackOnly: true },
    ];
    const hits = findCanaries(
      [
        { where: 'log of dumper #0', text: '{"msg":"connecting","url":"postgres://u:pw%2Bsecret%2F1@h/db"}' },
        { where: 'log of verifier #0', text: 'identity age-secret-key-1abc loaded' },
        { where: 'argv of pid 7 (someone else)', text: 'tool --key FIXED', machineWide: true },
        { where: 'argv of pid 8 (tool, under the test)', text: 'tool --key FIXED' },
        { where: 'clean', text: 'nothing here' },
      ],
      planted,
    );
    assert.deepEqual(
      hits.map((h) => `${h.canary}|${h.form}|${h.where}`),
      [
        'db password|URL-encoded|log of dumper #0',
        'key|lower case|log of verifier #0',
        'fixed key|as is|argv of pid 8 (tool, under the test)',
      ],
    );
    assert.doesNotMatch(describeHits(hits), /pw%2Bsecret|age-secret-key-1abc|FIXED/);
    assert.match(describeHits(hits), /«db password»/);
  });

  test('every kind backs up, verifies with its restore test and restores; no canary anywhere', async (t) => {
    const ids = [];
    for (const target of ['hy-pg', 'hy-my', 'hy-lite', 'hy-dir', 'hy-phys']) ids.push(await backup(target));
    // One trigger through the scheduler's REST API, with the API key as its bearer token.
    ids.push(
      await backup('hy-blob', {
        TIDEMARK_API_URL: `http://127.0.0.1:${String(stack.service('scheduler').port)}`,
        TIDEMARK_TOKEN: apiKey,
      }),
    );

    await restore(['hy-pg', '--to', '${RESTORE_PG}'], { RESTORE_PG: pgUrl(pgRestored) });
    const count = await withClient(dbUrl(pgRestored), (c) =>
      c.query('SELECT count(*)::int AS n FROM orders'),
    );
    assert.equal((count.rows[0] as { n: number }).n, 5000);
    await restore(['hy-my', '--to', '${RESTORE_MY}'], { RESTORE_MY: myUrl(myRestored) });
    assert.equal((await mysqlTables(myRestored))['items']?.rows, 3000);
    await restore(['hy-lite', '--to', join(work, 'restored.db')]);
    const lite = new DatabaseSync(join(work, 'restored.db'), { readOnly: true });
    assert.deepEqual({ ...lite.prepare('SELECT count(*) AS n FROM notes').get() }, { n: 2000 });
    lite.close();
    await restore(['hy-dir', '--to', join(work, 'files-restored')]);
    assert.equal(await readFile(join(work, 'files-restored', 'a.txt'), 'utf8'), 'alpha\n'.repeat(5000));
    await restore(['hy-blob', '--to', '${RESTORE_BLOB}'], {
      RESTORE_BLOB: `${stack.azurite.blobEndpoint}/hy-media-restored?${restoreSas}`,
    });
    const restoredBlobs = [];
    for await (const blob of BlobServiceClient.fromConnectionString(stack.azurite.connectionString)
      .getContainerClient('hy-media-restored')
      .listBlobsFlat())
      restoredBlobs.push(blob.name);
    assert.deepEqual(
      restoredBlobs.sort(),
      [0, 1, 2, 3, 4].map((i) => `photos/${i}.jpg`),
    );
    // The physical target: base backup (verified by recovering it) and the WAL, laid out as a data directory
    // whose recovery settings are scanned too.
    const dataDir = join(work, 'phys-restored');
    await restore(['hy-phys', '--latest', '--to', dataDir]);
    const recoverySettings = await readFile(join(dataDir, 'postgresql.auto.conf'), 'utf8');
    assert.match(recoverySettings, /restore_command/);
    cliOutput.push({ where: `${dataDir}/postgresql.auto.conf`, text: recoverySettings });
    for (const id of ids) await cli(['show', id]);
    await cli(['list', '--json']);
    await cli(['targets', '--json']);

    const argv = await (sampler as ArgvSampler).stop();
    sampler = undefined;
    const sources = [...argv.sources, monitor.stop(), ...(await storedSources())];
    // The scan looked at something: many samples, the services' own processes, Redis traffic, manifests.
    assert.ok(argv.samples > 20, `argv sampled ${argv.samples} times`);
    for (const name of [...SERVICE_NAMES, 'archiver'])
      assert.ok(
        argv.sources.some((s) => s.text.includes(`dist/apps/${name}/src/main.js`)),
        `the sampler saw the ${name}`,
      );
    assert.ok(sources.some((s) => s.where.startsWith('blob e2e-hygiene/hy-pg/')));
    assert.ok(sources.some((s) => s.where.startsWith('metadata of blob e2e-hygiene/hy-phys/wal/')));
    assert.ok(sources.some((s) => s.where.startsWith('Redis stream')));
    assert.ok(monitor.commands > 100, `MONITOR saw ${monitor.commands} commands`);
    // Tools may live under 100 ms; which ones the sampler caught is reported, not required.
    const tools = [
      'pg_dump',
      'pg_restore',
      'pg_basebackup',
      'pg_receivewal',
      'mariadb-dump',
      'bin/mariadb ',
    ].filter((tool) => argv.sources.some((s) => s.text.includes(tool)));
    t.diagnostic(
      `${argv.samples} argv samples, ${argv.sources.length} distinct command lines (tools seen: ${tools.join(', ') || 'none'}); ` +
        `${monitor.commands} Redis commands; ${sources.length} places scanned`,
    );
    const hits = findCanaries(sources, canaries);
    assert.equal(hits.length, 0, `canaries found:\n${describeHits(hits)}`);
  });

  test('and fails when a canary leaks into any of the places: each collector reports where', async () => {
    // Not a product switch: the verifier is started with a --require of the test's own that prints the key.
    const leak = join(work, 'leak.cjs');
    await writeFile(leak, "console.log('debug identity=' + process.env.AGE_IDENTITY);\n");
    await stack.restartService('verifier', { NODE_OPTIONS: `--require ${leak}` });
    const watching = ArgvSampler.start();
    const leaky = spawn(
      process.execPath,
      ['-e', 'setTimeout(() => {}, 1500)', '--', `--password=${myPassword}`],
      {
        stdio: 'ignore',
      },
    );
    await new Promise((resolve) => leaky.once('exit', resolve));
    const argv = await watching.stop();
    // A canary planted in each other place the scan reads.
    const probe = new Redis(redis.url);
    await probe.set('tidemark:leak-probe', pgPassword);
    await probe.quit();
    await BlobServiceClient.fromConnectionString(stack.azurite.connectionString)
      .getContainerClient('e2e-hygiene')
      .getBlockBlobClient('leak-probe.json')
      .uploadData(Buffer.from(JSON.stringify({ url: pgUrl(pgDb) })), {
        metadata: { note: sigOf(sourceSas) },
      });
    await writeFile(join(work, 'local', `leak-${identity.toLowerCase()}`), '');

    const hits = findCanaries([...argv.sources, ...(await storedSources())], canaries);
    assert.deepEqual(
      hits.map((h) => `${h.canary} (${h.form}) in ${h.where}`),
      [
        `MariaDB password (as is) in argv of pid ${leaky.pid} (${process.execPath}, under the test)`,
        'age identity (as is) in log of verifier #0',
        'PostgreSQL password (as is) in Redis string tidemark:leak-probe',
        'source container SAS signature (as is) in metadata of blob e2e-hygiene/leak-probe.json',
        'PostgreSQL password (URL-encoded) in blob e2e-hygiene/leak-probe.json',
        `age identity (lower case) in the local tier's file names (${join(work, 'local')})`,
      ],
      describeHits(hits),
    );
  });
});
