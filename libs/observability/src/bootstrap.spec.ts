import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

describe('bootstrapService', () => {
  test('a service that fails to start prints one line without secrets or a stack trace and exits 1', () => {
    const fixture = join(__dirname, 'fixtures', 'failing-service.ts');
    const result = spawnSync(process.execPath, ['-r', './tools/register.js', fixture], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      'failing-svc: targets[0].url: cannot reach postgres://app:***@db:5432/orders\n',
    );
    assert.equal(result.stdout, '');
  });
});
