import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

function start(fixture: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['-r', './tools/register.js', join(__dirname, 'fixtures', fixture)], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
}

describe('bootstrapService', () => {
  test('a config with several problems prints each on its own line, prefixed by the service, secrets masked', () => {
    const result = start('bad-config-service.ts');
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      'bad-config-svc: targets[0].url (orders-db): environment variable ORDERS_DB_URL is not set\n' +
        'bad-config-svc: targets[1].url (users-db): cannot reach postgres://app:***@db:5432/users\n',
    );
    assert.equal(result.stdout, '');
  });

  test('a service that fails to start prints one line without secrets or a stack trace and exits 1', () => {
    const result = start('failing-service.ts');
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      'failing-svc: targets[0].url: cannot reach postgres://app:***@db:5432/orders\n',
    );
    assert.equal(result.stdout, '');
  });
});
