import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import {
  ageKeyPair,
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  PG_BIN,
  uniqueName,
  type AgeKeyPair,
} from '@tidemark/testing';
import {
  createSeededDatabase,
  dbUrl,
  dropDatabase,
  schemaObjects,
  tableChecksums,
  withClient,
} from './support/database';
import { RedisServer } from './support/redis-server';
import { REPO_ROOT, TestStack } from './support/stack';

const run = promisify(execFile);

// Identities come only from the environment, as a deployment gives them; recipients too, so the dumper can be
// restarted with a rotated key.
const CONFIG = `
storage: { container: e2e-sealed }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  sealed:
    schedule: "0 3 * * *"
    verify: { restoreTest: true }
    encryption:
      recipients: ["\${OPS_RECIPIENT}", "\${BREAKGLASS_RECIPIENT}"]
      identity: ["\${AGE_IDENTITY}", "\${OLD_AGE_IDENTITY}"]
targets:
  - { id: sealed-db, kind: postgres, url: "\${SEALED_DB_URL}", policy: sealed }
  - { id: sealed-files, kind: directory, url: "\${SEALED_DIR}", policy: sealed, incremental: { fullEvery: 3 } }
`;

describe('encrypted backups end to end: age on real PostgreSQL, a directory chain, Azurite and stock tools', () => {
  const source = uniqueName('e2e_sealed_src').replaceAll('-', '_');
  const restored = uniqueName('e2e_sealed_dst').replaceAll('-', '_');
  const stocked = uniqueName('e2e_sealed_stock').replaceAll('-', '_');
  const rotated = uniqueName('e2e_sealed_rot').replaceAll('-', '_');
  let redis: RedisServer;
  let stack: TestStack;
  let work: string;
  let files: string;
  let ops: AgeKeyPair;
  let breakGlass: AgeKeyPair;
  let spare: AgeKeyPair;
  let backupId: string;
  let manifest: Manifest;

  const show = async (id: string): Promise<Manifest> => {
    const shown = await stack.cli(['show', id]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.doesNotMatch(shown.stdout, /AGE-SECRET-KEY/);
    return parseManifest(JSON.parse(shown.stdout));
  };
  const backup = async (targetId: string): Promise<{ code: number; backupId: string; stderr: string }> => {
    const result = await stack.cli(['backup', targetId, '--wait', '--json', '--timeout', '300']);
    const output = JSON.parse(result.stdout) as { backupId: string };
    return { code: result.code, backupId: output.backupId, stderr: result.stderr };
  };
  const history = async (id: string): Promise<TidemarkEvent[]> => {
    const bus = new RedisStreamEventBus(stack.redisUrl);
    try {
      return (await bus.history({ backupId: id })).map((e) => e.event);
    } finally {
      await bus.close();
    }
  };
  const container = () =>
    BlobServiceClient.fromConnectionString(stack.azurite.connectionString).getContainerClient('e2e-sealed');

  before(async () => {
    [ops, breakGlass, spare] = [await ageKeyPair(), await ageKeyPair(), await ageKeyPair()];
    work = await mkdtemp(join(tmpdir(), 'tidemark-e2e-sealed-'));
    files = join(work, 'files');
    await mkdir(join(files, 'sub'), { recursive: true });
    await writeFile(join(files, 'a.txt'), 'alpha\n'.repeat(10_000));
    await writeFile(join(files, 'sub', 'b.bin'), Buffer.alloc(300_000, 9));
    const url = await createSeededDatabase(source);
    for (const db of [restored, stocked, rotated]) {
      await withClient(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE ${db}`));
    }
    redis = await RedisServer.start();
    stack = await TestStack.start({
      config: CONFIG,
      redisUrl: redis.url,
      env: {
        SEALED_DB_URL: url,
        SEALED_DIR: files,
        OPS_RECIPIENT: ops.recipient,
        BREAKGLASS_RECIPIENT: breakGlass.recipient,
        AGE_IDENTITY: ops.identity,
        // The second identity of the list: a key nothing is encrypted to, until the rotation below.
        OLD_AGE_IDENTITY: spare.identity,
      },
    });
  });

  after(async () => {
    await stack.stop();
    await redis.destroy();
    for (const db of [source, restored, stocked, rotated]) await dropDatabase(db);
    await rm(work, { recursive: true, force: true });
  });

  test('backup --wait: verified, the restore test decrypting with the identity', async () => {
    const result = await backup('sealed-db');
    assert.equal(result.code, 0, result.stderr);
    backupId = result.backupId;
    manifest = await show(backupId);
    assert.equal(manifest.status, 'verified');
    assert.equal(manifest.verification?.restoreTest?.ok, true);
  });

  test('the manifest and the blob say age, with the public keys only; the blob carries a Content-MD5', async () => {
    assert.equal(manifest.artifact.name, 'dump.pgc.zst.age');
    assert.equal(manifest.artifact.encryption, 'age');
    assert.deepEqual(manifest.artifact.age?.recipients, [ops.recipient, breakGlass.recipient]);
    assert.match(manifest.artifact.age.fingerprint, /^sha256:[0-9a-f]{16}$/);
    assert.match(
      manifest.restoreHint ?? '',
      /age -d -i <identity file> dump\.pgc\.zst\.age \| zstd -dc \| pg_restore/,
    );
    const blob = container().getBlobClient(`sealed-db/${backupId}/dump.pgc.zst.age`);
    const props = await blob.getProperties();
    assert.equal(props.metadata?.['encryption'], 'age');
    assert.equal(props.metadata['encryption_recipients'], manifest.artifact.age.fingerprint);
    const bytes = await blob.downloadToBuffer();
    assert.equal(bytes.subarray(0, 22).toString(), 'age-encryption.org/v1\n');
    assert.equal(createHash('sha256').update(bytes).digest('hex'), manifest.artifact.sha256);
    const md5 = createHash('md5').update(bytes).digest('base64');
    assert.equal(Buffer.from(props.contentMD5 ?? []).toString('base64'), md5);
    assert.equal(manifest.artifact.md5, md5);
    const stored = JSON.stringify({ manifest, metadata: props.metadata });
    for (const secret of [ops.identity, breakGlass.identity]) assert.ok(!stored.includes(secret));
  });

  test('tidemark restore decrypts and brings back identical content', async () => {
    const result = await stack.cli(['restore', 'sealed-db', '--backup', backupId, '--to', '${RESTORE_URL}'], {
      RESTORE_URL: dbUrl(restored),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await tableChecksums(dbUrl(restored)), await tableChecksums(dbUrl(source)));
    assert.deepEqual(await schemaObjects(dbUrl(restored)), await schemaObjects(dbUrl(source)));
  });

  test("the README's recipe: curl with a SAS, sha256sum, age -d | zstd -dc | pg_restore, no Tidemark code", async () => {
    const sas = generateBlobSASQueryParameters(
      {
        containerName: 'e2e-sealed',
        permissions: ContainerSASPermissions.parse('r'),
        expiresOn: new Date(Date.now() + 3_600_000),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY),
    ).toString();
    const dir = join(work, 'stock');
    await mkdir(dir);
    // The break-glass key alone, in an age identity file.
    await writeFile(join(dir, 'breakglass.agekey'), `# break-glass\n${breakGlass.identity}\n`, {
      mode: 0o600,
    });
    await writeFile(join(dir, 'recipe.sh'), `set -euo pipefail\n${readmeRecipe()}`, { mode: 0o700 });
    await run('bash', ['recipe.sh'], {
      cwd: dir,
      env: {
        PATH: `${PG_BIN}:${process.env['PATH'] ?? ''}`,
        PGHOST: '127.0.0.1',
        PGUSER: 'postgres',
        BLOB: `${stack.azurite.blobEndpoint}/e2e-sealed`,
        SAS: sas,
        TARGET: 'sealed-db',
        BACKUP: backupId,
        IDENTITY: './breakglass.agekey',
        DB: stocked,
      },
      timeout: 180_000,
    });
    assert.deepEqual(await tableChecksums(dbUrl(stocked)), await tableChecksums(dbUrl(source)));
    assert.deepEqual(await schemaObjects(dbUrl(stocked)), await schemaObjects(dbUrl(source)));
  });

  test('an encrypted directory chain: a full and an incremental verify; restore brings the latest back', async () => {
    const full = await backup('sealed-files');
    assert.equal(full.code, 0, full.stderr);
    await writeFile(join(files, 'a.txt'), 'beta\n');
    await writeFile(join(files, 'c.txt'), 'gamma\n');
    const incremental = await backup('sealed-files');
    assert.equal(incremental.code, 0, incremental.stderr);
    const shown = await show(incremental.backupId);
    assert.equal(shown.chain?.parent, full.backupId);
    assert.equal(shown.artifact.name.endsWith('.age'), true);
    assert.equal(shown.verification?.restoreTest?.ok, true);
    const to = join(work, 'files-restored');
    const result = await stack.cli(['restore', 'sealed-files', '--backup', incremental.backupId, '--to', to]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(join(to, 'a.txt'), 'utf8'), 'beta\n');
    assert.equal(await readFile(join(to, 'c.txt'), 'utf8'), 'gamma\n');
    assert.deepEqual(await readFile(join(to, 'sub', 'b.bin')), Buffer.alloc(300_000, 9));
  });

  test('a verifier without the identity: the backup stays uploaded with key-missing and an event, not corrupt', async () => {
    await stack.restartService('verifier', { AGE_IDENTITY: '' });
    try {
      const result = await backup('sealed-db');
      assert.equal(result.code, 1);
      const unverified = await show(result.backupId);
      assert.equal(unverified.status, 'uploaded');
      assert.equal(unverified.verification?.unreadable?.code, 'key-missing');
      assert.equal(unverified.verification.checksum.ok, true);
      const events = await history(result.backupId);
      const types = events.map((e) => e.type);
      assert.ok(
        !types.includes('tidemark.backup.corrupt') && !types.includes('tidemark.backup.failed'),
        types.join(),
      );
      const event = events.find((e) => e.type === 'tidemark.backup.unverifiable');
      assert.equal(event?.severity, 'error');
      assert.equal(event.data.error?.code, 'key-missing');
      assert.equal(
        event.data.error.message,
        'policies.sealed.encryption.identity[0]: environment variable AGE_IDENTITY is not set',
      );
      assert.doesNotMatch(JSON.stringify(events), /AGE-SECRET-KEY/);
    } finally {
      await stack.restartService('verifier');
    }
  });

  test('rotation: new backups go to the new key; one to the rotated-out key still restores with the old identity', async () => {
    const current = await ageKeyPair();
    const rotatedEnv = {
      OPS_RECIPIENT: current.recipient,
      AGE_IDENTITY: current.identity,
      OLD_AGE_IDENTITY: ops.identity,
    };
    await stack.restartService('dumper', rotatedEnv);
    await stack.restartService('verifier', rotatedEnv);
    const after = await backup('sealed-db');
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual((await show(after.backupId)).artifact.age?.recipients, [
      current.recipient,
      breakGlass.recipient,
    ]);
    // The first backup was encrypted to the old ops key (and the break-glass key) only.
    const result = await stack.cli(['restore', 'sealed-db', '--backup', backupId, '--to', '${RESTORE_URL}'], {
      ...rotatedEnv,
      RESTORE_URL: dbUrl(rotated),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await tableChecksums(dbUrl(rotated)), await tableChecksums(dbUrl(source)));
    // Without the old identity it no longer opens, and nothing is written.
    const refused = await stack.cli(
      ['restore', 'sealed-db', '--backup', backupId, '--to', '/tmp/never-written.pgc'],
      {
        ...rotatedEnv,
        OLD_AGE_IDENTITY: spare.identity,
      },
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /none of the 2 configured age identities matches a recipient of this artifact/,
    );
    assert.doesNotMatch(refused.stderr + refused.stdout, /AGE-SECRET-KEY/);
  });
});

/**
 * The README's recipe ("Encryption with age") as written there, so the test fails when the README does: its
 * variable lines give way to the test's environment.
 */
function readmeRecipe(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const heading = readme.indexOf('### Encryption with age');
  assert.ok(heading >= 0, 'the README has the encryption section');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(heading))?.[1];
  assert.ok(block, 'the recipe is a sh block');
  assert.ok(block.includes('age -d -i "$IDENTITY"'), 'the recipe decrypts with stock age');
  return block
    .split('\n')
    .filter((line) => !/^(BLOB|SAS|TARGET|BACKUP|IDENTITY|DB)=/.test(line))
    .join('\n');
}
