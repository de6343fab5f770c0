import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startRedisServer, type RedisServerHandle } from '@tidemark/testing';
import { Redis } from 'ioredis';
import { assertNoEviction, EvictionPolicyError, readEvictionPolicy } from './eviction-policy';

// Each case has a redis-server of its own: the policy is server-wide, never set on the shared Redis.
describe('maxmemory-policy check at start (real redis-server)', () => {
  const servers: RedisServerHandle[] = [];
  const clients: Redis[] = [];
  const warnings: string[] = [];
  const logger = {
    warn: (_obj: unknown, msg?: unknown) => {
      warnings.push(String(msg));
    },
  };
  const connect = async (args: string[], url?: (s: RedisServerHandle) => string): Promise<Redis> => {
    const server = await startRedisServer(args);
    servers.push(server);
    const redis = new Redis(url ? url(server) : server.url, { maxRetriesPerRequest: 1 });
    clients.push(redis);
    return redis;
  };

  after(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
  });

  test('noeviction is accepted', async () => {
    const redis = await connect(['--maxmemory-policy', 'noeviction']);
    assert.equal(await readEvictionPolicy(redis), 'noeviction');
    await assertNoEviction(redis, logger);
  });

  for (const policy of ['allkeys-lru', 'volatile-lru', 'volatile-ttl', 'allkeys-random']) {
    test(`${policy} is refused with one line naming it`, async () => {
      const redis = await connect(['--maxmemory-policy', policy]);
      await assert.rejects(assertNoEviction(redis, logger), (error: unknown) => {
        assert.ok(error instanceof EvictionPolicyError);
        assert.match(error.message, new RegExp(`^Redis maxmemory-policy is "${policy}", which can evict`));
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    });
  }

  test('with CONFIG renamed away (managed Redis) the policy is read from INFO memory', async () => {
    const redis = await connect(['--maxmemory-policy', 'allkeys-lru', '--rename-command', 'CONFIG', '']);
    await assert.rejects(redis.call('CONFIG', 'GET', 'maxmemory-policy'), /unknown command/);
    assert.equal(await readEvictionPolicy(redis), 'allkeys-lru');
    await assert.rejects(assertNoEviction(redis, logger), EvictionPolicyError);
  });

  test('when neither CONFIG nor INFO is permitted it warns and goes on', async () => {
    const admin = await connect(['--maxmemory-policy', 'allkeys-lru']);
    await admin.call('ACL', 'SETUSER', 'limited', 'on', 'nopass', '~*', '&*', '+@all', '-config', '-info');
    const port = new URL(servers.at(-1)?.url ?? '').port;
    const limited = new Redis(`redis://limited@127.0.0.1:${port}`, { maxRetriesPerRequest: 1 });
    clients.push(limited);
    assert.equal(await readEvictionPolicy(limited), undefined);
    warnings.length = 0;
    await assertNoEviction(limited, logger);
    assert.deepEqual(warnings, ['could not read Redis maxmemory-policy: make sure it is noeviction']);
  });
});
