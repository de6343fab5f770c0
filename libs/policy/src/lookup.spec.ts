import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error';
import { policyOf, targetById } from './lookup';
import { validateConfig } from './validate-config';

const config = validateConfig({
  policies: { standard: { schedule: '0 2 * * *' }, hourly: { schedule: '0 * * * *', rpoHours: 2 } },
  targets: [
    { id: 'orders-db', kind: 'postgres', url: '${ORDERS_DB_URL}', policy: 'standard' },
    { id: 'users-db', kind: 'postgres', url: 'postgres://users', policy: 'hourly' },
  ],
});

describe('targetById', () => {
  test('finds a target', () => {
    assert.equal(targetById(config, 'users-db').url, 'postgres://users');
  });

  test('an unknown id lists the known ones', () => {
    assert.throws(
      () => targetById(config, 'x'),
      (error: unknown) =>
        error instanceof ConfigError && error.message === 'unknown target "x" (known: orders-db, users-db)',
    );
  });
});

describe('policyOf', () => {
  test('returns the policy a target names', () => {
    assert.equal(policyOf(config, targetById(config, 'users-db')).rpoHours, 2);
    assert.equal(policyOf(config, targetById(config, 'orders-db')).schedule, '0 2 * * *');
  });

  test('a target built outside validation with an unknown policy is a ConfigError', () => {
    const stray = { id: 'stray', kind: 'postgres' as const, url: 'postgres://x', policy: 'constructor' };
    assert.throws(() => policyOf(config, stray), {
      name: 'ConfigError',
      message: 'target "stray" uses unknown policy "constructor" (known: standard, hourly)',
    });
  });
});
