import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '@tidemark/policy';
import {
  assertSecrets,
  declaredTargetsOf,
  missingSecrets,
  resolveTargetUrl,
  targetEnvIssues,
} from './secrets';

const config = validateConfig({
  policies: { standard: { schedule: '0 2 * * *' } },
  targets: [
    { id: 'orders-db', kind: 'postgres', url: '${ORDERS_DB_URL}', policy: 'standard' },
    {
      id: 'users-db',
      kind: 'postgres',
      url: 'postgres://${DB_USER}:${DB_PASSWORD}@users/app',
      policy: 'standard',
    },
    {
      id: 'audit-db',
      kind: 'postgres',
      url: 'postgres://${DB_USER}:${AUDIT_PASSWORD}@audit/app',
      policy: 'standard',
    },
    { id: 'local-db', kind: 'postgres', url: 'postgres://localhost/app', policy: 'standard' },
  ],
});

const fullEnv = {
  ORDERS_DB_URL: 'postgres://orders/app',
  DB_USER: 'app',
  DB_PASSWORD: 'secret',
  AUDIT_PASSWORD: 'audit',
};

describe('resolveTargetUrl', () => {
  test('fills in the environment variables of one target', () => {
    assert.equal(resolveTargetUrl(config, 'orders-db', fullEnv), 'postgres://orders/app');
    assert.equal(resolveTargetUrl(config, 'users-db', fullEnv), 'postgres://app:secret@users/app');
    assert.equal(resolveTargetUrl(config, 'local-db', {}), 'postgres://localhost/app');
  });

  test('a missing variable names the target url path by index, and the target', () => {
    assert.throws(() => resolveTargetUrl(config, 'users-db', { DB_USER: 'app' }), {
      name: 'ConfigError',
      message: 'targets[1].url (users-db): environment variable DB_PASSWORD is not set',
    });
  });

  test('an unknown target lists the known ones', () => {
    assert.throws(() => resolveTargetUrl(config, 'nope', fullEnv), {
      message: 'unknown target "nope" (known: orders-db, users-db, audit-db, local-db)',
    });
  });
});

describe('missingSecrets', () => {
  test('lists each unset or empty variable once', () => {
    assert.deepEqual(missingSecrets(config, {}), [
      'ORDERS_DB_URL',
      'DB_USER',
      'DB_PASSWORD',
      'AUDIT_PASSWORD',
    ]);
    assert.deepEqual(missingSecrets(config, { ...fullEnv, DB_USER: '' }), ['DB_USER']);
    assert.deepEqual(missingSecrets(config, fullEnv), []);
  });
});

describe('assertSecrets', () => {
  test('passes when every variable is set', () => {
    assert.doesNotThrow(() => {
      assertSecrets(config, fullEnv);
    });
  });

  test('names every missing variable at every place it is used', () => {
    assert.throws(
      () => {
        assertSecrets(config, { DB_PASSWORD: 'secret' });
      },
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.message.split('\n'), [
          'targets[0].url (orders-db): environment variable ORDERS_DB_URL is not set',
          'targets[1].url (users-db): environment variable DB_USER is not set',
          'targets[2].url (audit-db): environment variable DB_USER is not set',
          'targets[2].url (audit-db): environment variable AUDIT_PASSWORD is not set',
        ]);
        return true;
      },
    );
  });
});

describe('targetEnvIssues', () => {
  const PASSWORD = 'Hunter2-s3cret';

  test('a set variable whose value is not a url of the kind names the variable and what is wrong, never the value', () => {
    const issues = targetEnvIssues(declaredTargetsOf(config), {
      ...fullEnv,
      ORDERS_DB_URL: `ht!tp://app:${PASSWORD}@orders/app`,
      DB_PASSWORD: PASSWORD,
      DB_USER: 'app',
    });
    assert.deepEqual(issues, [
      {
        targetId: 'orders-db',
        path: 'targets[0].url (orders-db)',
        message:
          'environment variable ORDERS_DB_URL is not a valid PostgreSQL URL: it must start with postgres:// or postgresql://',
      },
    ]);
  });

  test('a url built from several variables says which were filled in', () => {
    const issues = targetEnvIssues(declaredTargetsOf(config), { ...fullEnv, DB_PASSWORD: `${PASSWORD}@x/` });
    assert.deepEqual(
      issues.map((issue) => `${issue.path}: ${issue.message}`),
      [
        'targets[1].url (users-db): with DB_USER, DB_PASSWORD filled in, it is not a valid PostgreSQL URL: the database name cannot contain "/"',
      ],
    );
    assert.ok(!JSON.stringify(issues).includes(PASSWORD));
  });

  test('every kind parses its resolved url with its own rules', () => {
    const everyKind = validateConfig({
      policies: { standard: { schedule: '0 2 * * *' } },
      targets: [
        { id: 'my', kind: 'mysql', url: '${MY_URL}', policy: 'standard' },
        { id: 'lite', kind: 'sqlite', url: '${LITE}', policy: 'standard' },
        { id: 'dir', kind: 'directory', url: '${DIR}', policy: 'standard' },
        { id: 'blob', kind: 'azure-blob', url: '${BLOB}', policy: 'standard' },
        { id: 'blob2', kind: 'azure-blob', url: '${BLOB2}', policy: 'standard' },
      ],
    });
    const targets = declaredTargetsOf(everyKind);
    const good = {
      MY_URL: `mysql://root:${PASSWORD}@db:3306/shop`,
      LITE: '/var/lib/app/app.db',
      DIR: '/srv/files',
      BLOB: 'https://acct.blob.core.windows.net/media?sv=2024&sig=abc',
      BLOB2: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${Buffer.from(PASSWORD).toString('base64')};EndpointSuffix=core.windows.net;Container=media`,
    };
    assert.deepEqual(targetEnvIssues(targets, good), []);
    const bad = {
      MY_URL: `postgres://root:${PASSWORD}@db/shop`,
      LITE: ':memory:',
      DIR: `https://files/${PASSWORD}`,
      BLOB: `https://acct.blob.core.windows.net/?sig=${PASSWORD}`,
      BLOB2: `AccountName=acct;AccountKey=${PASSWORD}`,
    };
    const issues = targetEnvIssues(targets, bad);
    assert.deepEqual(
      issues.map((issue) => `${issue.path}: ${issue.message}`),
      [
        'targets[0].url (my): environment variable MY_URL is not a valid MySQL URL: it must start with mysql:// or mariadb://',
        'targets[1].url (lite): environment variable LITE is not a valid SQLite location: an in-memory database has nothing to back up',
        'targets[2].url (dir): environment variable DIR is not a valid directory URL: use a path or file:///absolute/dir',
        'targets[3].url (blob): environment variable BLOB is not a valid azure-blob URL: it must name exactly one container (https://<account>.blob.core.windows.net/<container>)',
        'targets[4].url (blob2): environment variable BLOB2 has no Container=<name> key',
      ],
    );
    assert.ok(!JSON.stringify(issues).includes(PASSWORD));
  });

  test('a url without variables and one with a malformed reference are not resolved here', () => {
    const targets = [
      { index: 0, id: 'a', kind: 'postgres' as const, url: 'postgres://db/app' },
      { index: 1, id: 'b', kind: 'postgres' as const, url: '${lower}' },
    ];
    assert.deepEqual(targetEnvIssues(targets, {}), []);
  });
});
