import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '@tidemark/policy';
import { hashApiKey, matchApiKey } from './api-keys';
import { assertSafeBinding, isLoopback } from './binding';

describe('assertSafeBinding', () => {
  test('loopback addresses only', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]'])
      assert.ok(isLoopback(host), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.4', 'example.com', '128.0.0.1'])
      assert.ok(!isLoopback(host), host);
  });

  test('without api.auth a service may only listen on loopback', () => {
    assert.doesNotThrow(() => {
      assertSafeBinding({ metrics: 'open' }, '127.0.0.1');
    });
    assert.throws(
      () => {
        assertSafeBinding({ metrics: 'open' }, '0.0.0.0');
      },
      (error: unknown) =>
        error instanceof ConfigError &&
        /^api\.auth: required when the services listen on 0\.0\.0\.0 \(HOST\)/.test(error.message),
    );
  });

  test('auth configured, or explicitly none, binds anywhere', () => {
    assert.doesNotThrow(() => {
      assertSafeBinding({ metrics: 'open', auth: 'none' }, '0.0.0.0');
      assertSafeBinding(
        { metrics: 'open', auth: { apiKeys: [{ name: 'ci', sha256: hashApiKey('k') }] } },
        '::',
      );
    });
  });
});

describe('API keys', () => {
  test('hashed with sha256 as hex and matched by the hash', () => {
    assert.equal(hashApiKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const entries = [
      { name: 'a', sha256: hashApiKey('one') },
      { name: 'b', sha256: hashApiKey('two') },
    ];
    assert.equal(matchApiKey('two', entries)?.name, 'b');
    assert.equal(matchApiKey('three', entries), undefined);
    assert.equal(matchApiKey('', entries), undefined);
  });
});
