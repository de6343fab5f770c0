import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { TargetLock } from './target-lock';

describe('TargetLock (real Redis): at most one dump per target', () => {
  let redis: Redis;
  let lock: TargetLock;

  before(async () => {
    redis = new Redis('redis://127.0.0.1:6379/9');
    await redis.del('tidemark:lock:dump:lock-test');
    lock = new TargetLock(redis);
  });

  after(async () => {
    await redis.del('tidemark:lock:dump:lock-test');
    await redis.quit();
  });

  test('the first backup takes the target; others are told who holds it', async () => {
    assert.equal(await lock.acquire('lock-test', 'A'), 'A');
    assert.equal(await lock.acquire('lock-test', 'B'), 'A');
    assert.equal(await lock.acquire('lock-test', 'A'), 'A', 'the holder may take it again (retries)');
    assert.equal(await lock.holder('lock-test'), 'A');
  });

  test('only the holder can extend or release it', async () => {
    assert.equal(await lock.extend('lock-test', 'B'), false);
    await lock.release('lock-test', 'B');
    assert.equal(await lock.holder('lock-test'), 'A');
    assert.equal(await lock.extend('lock-test', 'A'), true);
    assert.ok((await redis.pttl('tidemark:lock:dump:lock-test')) > TargetLock.ttlMs - 5000);
    await lock.release('lock-test', 'A');
    assert.equal(await lock.holder('lock-test'), null);
    assert.equal(await lock.acquire('lock-test', 'B'), 'B');
  });

  test('concurrent acquires: exactly one wins', async () => {
    await lock.release('lock-test', 'B');
    const winners = await Promise.all(['p', 'q', 'r', 's', 't'].map((id) => lock.acquire('lock-test', id)));
    assert.equal(new Set(winners).size, 1);
  });
});
