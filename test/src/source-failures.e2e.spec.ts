import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { AZURITE_ACCOUNT, uniqueName } from '@tidemark/testing';
import { TestStack } from './support/stack';
import { withMysql } from './support/stores';

const WRONG_PASSWORD = 'wr0ng-Pa55word';

const CONFIG = `
storage: { container: e2e-source-failures }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  quick:
    schedule: "0 4 * * *"
    verify: { restoreTest: false }
targets:
  - { id: my-down, kind: mysql, url: "mysql://root@127.0.0.1:1/nowhere", policy: quick }
  - { id: my-badpass, kind: mysql, url: "\${MY_BADPASS_URL}", policy: quick }
  - { id: my-notool, kind: mysql, url: "mysql://root@127.0.0.1:3306/mysql", policy: quick }
  - { id: lite-missing, kind: sqlite, url: "\${WORK}/missing.db", policy: quick }
  - { id: dir-missing, kind: directory, url: "\${WORK}/no-such-dir", policy: quick }
  - { id: dir-prefails, kind: directory, url: "\${WORK}", policy: quick, pre: "echo cannot pause writes >&2; exit 3" }
  - { id: blob-missing, kind: azure-blob, url: "__AZURITE__;Container=no-such-container", policy: quick }
  - { id: blob-badkey, kind: azure-blob, url: "\${BLOB_BADKEY}", policy: quick }
  - { id: pg-badexclude, kind: postgres, url: "postgres://postgres@127.0.0.1:5432/postgres", policy: quick, excludeTables: ["a.b.c.d"] }
`;

interface Failed {
  manifest: Manifest | null;
  output: string;
}

describe('every kind fails clearly: unreachable, bad credentials, missing tool, missing source, failing hook', () => {
  const user = `tm_e2e_${uniqueName('u').replaceAll('-', '_')}`.slice(0, 32);
  let stack: TestStack;
  let work: string;

  const failedBackup = async (target: string): Promise<Failed> => {
    const result = await stack.cli(['backup', target, '--wait', '--json', '--timeout', '120']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const output = JSON.parse(result.stdout) as { status: string; manifest?: unknown };
    assert.equal(output.status, 'failed', result.stdout);
    return {
      manifest: output.manifest ? parseManifest(output.manifest) : null,
      output: result.stdout + result.stderr,
    };
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tidemark-srcfail-'));
    await withMysql(undefined, (c) =>
      c.query(
        `CREATE USER '${user}'@'%' IDENTIFIED BY 'the-right-one'; GRANT SELECT ON mysql.* TO '${user}'@'%'`,
      ),
    );
    const badKey = Buffer.from('not the key').toString('base64');
    stack = await TestStack.start({
      config: CONFIG.replace('__AZURITE__', '${BLOB_SOURCE}'),
      redisDb: 3,
      env: {
        WORK: work,
        MY_BADPASS_URL: `mysql://${user}:${WRONG_PASSWORD}@127.0.0.1:3306/mysql`,
        BLOB_SOURCE: '__AZURITE__',
        BLOB_BADKEY: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${badKey};BlobEndpoint=__AZURITE_BLOB__;Container=media`,
      },
    });
  });

  after(async () => {
    await stack.stop();
    await withMysql(undefined, (c) => c.query(`DROP USER IF EXISTS '${user}'@'%'`));
    await rm(work, { recursive: true, force: true });
  });

  test('an unreachable MariaDB is retried, then fails with source-unreachable', async () => {
    const { manifest } = await failedBackup('my-down');
    assert.equal(manifest?.status, 'failed');
    assert.equal(manifest.failure?.code, 'source-unreachable');
    assert.equal(manifest.failure.attempts, 3);
    assert.match(manifest.failure.message, /127\.0\.0\.1:1/);
  });

  test('bad MariaDB credentials fail at once with source-auth, and the password is nowhere', async () => {
    const { manifest, output } = await failedBackup('my-badpass');
    assert.equal(manifest?.failure?.code, 'source-auth');
    assert.equal(manifest.failure.attempts, 1);
    const events = await stack.cli(['events', '--json']);
    for (const text of [output, events.stdout, stack.logs('dumper'), JSON.stringify(manifest)])
      assert.ok(!text.includes(WRONG_PASSWORD), 'the password leaked');
  });

  test('a missing mariadb-dump is tool-missing, permanent, and names the fix', async () => {
    await stack.restartService('dumper', { TIDEMARK_MYSQL_BIN: join(work, 'no-bin') });
    try {
      const { manifest } = await failedBackup('my-notool');
      assert.equal(manifest?.failure?.code, 'tool-missing');
      assert.equal(manifest.failure.attempts, 1);
      assert.match(manifest.failure.message, /TIDEMARK_MYSQL_BIN/);
    } finally {
      await stack.restartService('dumper');
    }
  });

  test('a missing SQLite file and a missing directory are source-missing-database, naming the path', async () => {
    const lite = await failedBackup('lite-missing');
    assert.equal(lite.manifest?.failure?.code, 'source-missing-database');
    assert.ok(lite.manifest.failure.message.includes(join(work, 'missing.db')));
    const dir = await failedBackup('dir-missing');
    assert.equal(dir.manifest?.failure?.code, 'source-missing-database');
    assert.ok(dir.manifest.failure.message.includes(join(work, 'no-such-dir')));
  });

  test('a failing pre command fails the directory backup with hook-failed and its stderr', async () => {
    const { manifest } = await failedBackup('dir-prefails');
    assert.equal(manifest?.failure?.code, 'hook-failed');
    assert.match(manifest.failure.message, /exited with code 3.*cannot pause writes/);
  });

  test('a missing container and a wrong account key fail clearly, without the key', async () => {
    const missing = await failedBackup('blob-missing');
    assert.equal(missing.manifest?.failure?.code, 'source-missing-database');
    assert.match(missing.manifest.failure.message, /no-such-container/);
    const badKey = await failedBackup('blob-badkey');
    assert.equal(badKey.manifest?.failure?.code, 'source-auth');
    assert.doesNotMatch(JSON.stringify(badKey.manifest) + badKey.output, /AccountKey|bm90IHRoZSBrZXk/);
  });

  test('an exclude pattern pg_dump would refuse fails at once with invalid-settings, naming it', async () => {
    const { manifest } = await failedBackup('pg-badexclude');
    assert.equal(manifest?.failure?.code, 'invalid-settings');
    assert.equal(manifest.failure.attempts, 1);
    assert.match(manifest.failure.message, /"a\.b\.c\.d"/);
  });

  test('no failed backup left an artifact or a partial part behind', async () => {
    const list = await stack.cli(['list', '--json']);
    const rows = JSON.parse(list.stdout) as { status: string; size: number | null }[];
    assert.ok(rows.length >= 9);
    assert.ok(
      rows.every((r) => r.status === 'failed' && !r.size),
      list.stdout,
    );
  });
});
