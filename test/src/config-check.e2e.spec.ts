import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { SERVICES_OPENING_TARGETS } from '@tidemark/config';
import { startAzurite, type AzuriteHandle } from '@tidemark/testing';
import { entryOf, SERVICES, targetsOpenedBy } from './support/app-env';
import { REPO_ROOT, runCli } from './support/stack';

// Configuration problems through the real CLI and a real service from dist/: every problem listed, one line each,
// no stack trace, and never the value of a variable (it may hold a password).
const PASSWORD = 'Hunter2-e2e-s3cret';

const GOOD = `
storage: { container: e2e-config-check }
policies:
  nightly: { schedule: "0 2 * * *" }
targets:
  - { id: orders-db, kind: postgres, url: "\${ORDERS_DB_URL}", policy: nightly }
  - { id: app-lite, kind: sqlite, url: /var/lib/app/app.db, policy: nightly }
`;

const BAD = `
policies:
  nightly: { schedule: "61 * * * *" }
targets:
  - { id: bad-url, kind: postgres, url: "ht!tp:/bad url", policy: nightly }
  - { id: orders-db, kind: postgres, url: "\${UNSET_VAR}", policy: gold }
  - { id: shop, kind: mysql, url: "\${SHOP_URL}", policy: nightly }
`;

/** Starts a service from dist/ and waits for it to exit; one still running after 30 s is killed and reported. */
function startService(
  service: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, entryOf(service).compiled)], {
      cwd: REPO_ROOT,
      env: { ...env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      stderr += `(${service} was still running after 30 s)`;
      child.kill('SIGKILL');
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('config check, targets and service start refuse bad config clearly', () => {
  let dir: string;
  let azurite: AzuriteHandle;
  // The variables under test come only from `extra`; no Redis is needed by anything here (nothing listens on port 1).
  const OWN = new Set(['TIDEMARK_CONFIG', 'ORDERS_DB_URL', 'UNSET_VAR', 'SHOP_URL']);
  const baseEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !OWN.has(name))),
    REDIS_URL: 'redis://127.0.0.1:1',
    ...extra,
  });
  const file = async (name: string, content: string | Buffer): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };
  const noStack = (text: string): void => {
    assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
    assert.ok(!text.includes(PASSWORD), 'the password leaked');
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-config-check-'));
    azurite = await startAzurite({ location: join(dir, 'azurite') });
    // The services create the container at start; here none runs, and `targets` reads the catalog from it.
    await BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient('e2e-config-check')
      .createIfNotExists();
    const build = spawnSync(process.execPath, ['tools/build.mjs'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });

  after(async () => {
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('config check prints every problem, one per line, and exits 1', async () => {
    const config = await file('bad.yaml', BAD);
    const shopUrl = `mysql://root:${PASSWORD}@db:3306`;
    const result = await runCli(['config', 'check', '--config', config], baseEnv({ SHOP_URL: shopUrl }));
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.deepEqual(result.stdout.trimEnd().split('\n'), [
      'policies.nightly.schedule: "61 * * * *" is not a valid cron expression (minute must be 0-59)',
      'targets[1].policy: unknown policy "gold" (known: nightly)',
      'targets[0].url (bad-url): invalid PostgreSQL URL "ht!tp:/bad url": it must start with postgres:// or postgresql://',
      'targets[1].url (orders-db): environment variable UNSET_VAR is not set (needed by dumper, verifier)',
      'targets[2].url (shop): environment variable SHOP_URL is not a valid MySQL URL: it names no database (mysql://user:password@host:port/database) (needed by dumper, verifier)',
    ]);
    noStack(result.stdout + result.stderr);

    const json = await runCli(
      ['config', 'check', '--json', '--config', config],
      baseEnv({ SHOP_URL: shopUrl }),
    );
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.stdout) as {
      ok: boolean;
      problems: { path: string; services: string[] }[];
    };
    assert.equal(parsed.ok, false);
    assert.equal(parsed.problems.length, 5);
    assert.deepEqual(parsed.problems[3]?.services, ['dumper', 'verifier']);
    noStack(json.stdout);
  });

  test('config check warns, without failing, when a policy keeps backups for less than their lock', async () => {
    const config = await file(
      'short-retention.yaml',
      [
        'storage: { container: e2e-config-check, immutability: { mode: locked, days: 35 } }',
        'policies:',
        '  nightly:',
        '    schedule: "0 2 * * *"',
        '    retention: { remote: { keepLast: 3, daily: 3, weekly: 1, monthly: 0, yearly: 0 } }',
        'targets:',
        '  - { id: files, kind: directory, url: /srv/files, policy: nightly }',
        '',
      ].join('\n'),
    );
    const result = await runCli(['config', 'check', '--config', config], baseEnv());
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(result.stdout.trimEnd().split('\n'), [
      'warning: policies.nightly.retention.remote: keeps backups at most ~7 d, shorter than the 35 d lock of storage.immutability: their blobs outlive the policy until the lock runs out',
      'ok: 1 target, 1 policy',
    ]);
    const json = await runCli(['config', 'check', '--json', '--config', config], baseEnv());
    const parsed = JSON.parse(json.stdout) as { ok: boolean; warnings: { path: string }[] };
    assert.equal(parsed.ok, true);
    assert.deepEqual(
      parsed.warnings.map((w) => w.path),
      ['policies.nightly.retention.remote'],
    );
  });

  test('config check of a good config in a complete environment says ok and exits 0', async () => {
    const config = await file('good.yaml', GOOD);
    const result = await runCli(
      ['config', 'check', '--config', config],
      baseEnv({ ORDERS_DB_URL: `postgres://app:${PASSWORD}@db/orders` }),
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(result.stdout, 'ok: 2 targets, 1 policy\n');
    const missing = await runCli(['config', 'check', '--config', config], baseEnv());
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stdout,
      'targets[0].url (orders-db): environment variable ORDERS_DB_URL is not set (needed by dumper, verifier)\n',
    );
  });

  test('targets lists an unset variable as a problem of its target and still lists every target', async () => {
    const config = await file('good.yaml', GOOD);
    const env = baseEnv({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString });
    const result = await runCli(['targets', '--json', '--config', config], env);
    assert.equal(result.code, 0, result.stderr);
    const rows = JSON.parse(result.stdout) as { target: string; problem: string | null }[];
    assert.deepEqual(
      rows.map((row) => [row.target, row.problem]),
      [
        ['orders-db', 'environment variable ORDERS_DB_URL is not set'],
        ['app-lite', null],
      ],
    );
    const table = await runCli(['targets', '--config', config], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^TARGET .* PROBLEM$/m);
    assert.match(table.stdout, /^orders-db .* environment variable ORDERS_DB_URL is not set$/m);
  });

  test('targets refuses a url that cannot be parsed, deep YAML and binary files with one plain line', async () => {
    const cases: [string, string | Buffer, RegExp][] = [
      [
        'url.yaml',
        BAD.replace('"61 * * * *"', '"0 2 * * *"').replace('policy: gold', 'policy: nightly'),
        /^tidemark: targets\[0\]\.url \(bad-url\): invalid PostgreSQL URL "ht!tp:\/bad url": it must start with postgres:\/\/ or postgresql:\/\/\n$/,
      ],
      [
        'deep.yaml',
        `${'['.repeat(5000)}${']'.repeat(5000)}\n`,
        /^tidemark: .*deep\.yaml:1:\d+: nested deeper than 64 levels, the limit for a config file\n$/,
      ],
      [
        'binary.yaml',
        Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256)),
        /^tidemark: config file .*binary\.yaml is not a text file \(expected UTF-8 YAML\)\n$/,
      ],
    ];
    for (const [name, content, expected] of cases) {
      const result = await runCli(['targets', '--config', await file(name, content)], baseEnv());
      assert.equal(result.code, 1, name);
      assert.match(result.stderr, expected);
      assert.equal(result.stdout, '');
    }
  });

  for (const service of ['dumper', 'verifier'] as const) {
    test(`the ${service} from dist/ refuses to start: one line naming the variable and the target, exit 1`, async () => {
      const config = await file(`${service}.yaml`, GOOD);
      const unset = await startService(
        service,
        baseEnv({ TIDEMARK_CONFIG: config, AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString }),
      );
      assert.equal(unset.code, 1, unset.stdout + unset.stderr);
      assert.equal(
        unset.stderr,
        `${service}: targets[0].url (orders-db): environment variable ORDERS_DB_URL is not set\n`,
      );

      const wrongKind = await startService(
        service,
        baseEnv({
          TIDEMARK_CONFIG: config,
          AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
          ORDERS_DB_URL: `mysql://root:${PASSWORD}@db/orders`,
        }),
      );
      assert.equal(wrongKind.code, 1);
      assert.equal(
        wrongKind.stderr,
        `${service}: targets[0].url (orders-db): environment variable ORDERS_DB_URL is not a valid PostgreSQL URL: it must start with postgres:// or postgresql://\n`,
      );
      noStack(wrongKind.stdout + wrongKind.stderr);
    });
  }

  test('the services that check target variables at start are exactly those whose code opens targets', () => {
    // The deployment tests give the target secrets to the services opensTargets() finds in the code, and only
    // to them; the start check must ask the same services for them.
    // The archiver opens the physical targets only and checks their variables itself (libs/archiving;
    // test/src/archiver.e2e.spec.ts).
    for (const service of SERVICES) {
      assert.equal(SERVICES_OPENING_TARGETS.includes(service), targetsOpenedBy(service) === 'all', service);
    }
    assert.equal(targetsOpenedBy('archiver'), 'physical');
  });
});
