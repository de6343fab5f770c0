import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '@tidemark/policy';
import { assertSecrets, missingSecrets, resolveTargetUrl } from './secrets';

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
  ORDERS_DB_URL: 'postgres://orders',
  DB_USER: 'app',
  DB_PASSWORD: 'secret',
  AUDIT_PASSWORD: 'audit',
};

describe('resolveTargetUrl', () => {
  test('fills in the environment variables of one target', () => {
    assert.equal(resolveTargetUrl(config, 'orders-db', fullEnv), 'postgres://orders');
    assert.equal(resolveTargetUrl(config, 'users-db', fullEnv), 'postgres://app:secret@users/app');
    assert.equal(resolveTargetUrl(config, 'local-db', {}), 'postgres://localhost/app');
  });

  test('a missing variable names the target url path by index', () => {
    assert.throws(() => resolveTargetUrl(config, 'users-db', { DB_USER: 'app' }), {
      name: 'ConfigError',
      message: 'targets[1].url: environment variable DB_PASSWORD is not set',
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
          'targets[0].url: environment variable ORDERS_DB_URL is not set',
          'targets[1].url: environment variable DB_USER is not set',
          'targets[2].url: environment variable DB_USER is not set',
          'targets[2].url: environment variable AUDIT_PASSWORD is not set',
        ]);
        return true;
      },
    );
  });
});
