import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '@tidemark/config';
import { Redis } from 'ioredis';
import { ScratchCleaner } from './scratch-cleaner';
import { SCRATCH_PREFIX, ScratchLeases, scratchName, scratchOf } from './scratch-leases';

// A Redis database of its own (real Redis), flushed first.
const REDIS_URL = 'redis://127.0.0.1:6379/2';

describe('scratch names and leases (real Redis)', () => {
  let redis: Redis;
  let leases: ScratchLeases;
  let work: string;

  before(async () => {
    process.env['TIDEMARK_SCRATCH_LEASE_MS'] = '1500';
    redis = new Redis(REDIS_URL);
    await redis.flushdb();
    leases = new ScratchLeases(redis);
    work = await mkdtemp(join(tmpdir(), 'tidemark-scratch-'));
  });

  after(async () => {
    delete process.env['TIDEMARK_SCRATCH_LEASE_MS'];
    await redis.flushdb();
    await redis.quit();
    await rm(work, { recursive: true, force: true });
  });

  test('a name per attempt: the backup it tests plus a token, within 64 characters', () => {
    const a = scratchName('20261202T013000Z-k3f9xq');
    const b = scratchName('20261202T013000Z-k3f9xq');
    assert.match(a, /^tidemark_verify_20261202t013000z_k3f9xq_[0-9a-z]{8}$/);
    assert.notEqual(a, b);
    assert.ok(a.length <= 63);
    assert.equal(scratchOf(`${a}.sqlite`), a);
    assert.equal(scratchOf(`${a}.unpack`), a);
    assert.equal(scratchOf('tidemark_verify_20261202t013000z_k3f9xq'), undefined, "an older version's name");
  });

  test('a lease lives while its work runs, is re-created when Redis loses it, and ends with the work', async () => {
    const name = scratchName('20261202T013000Z-aaaaaa');
    let seenLive = false;
    let liveAfterLoss = false;
    await leases.hold(name, async () => {
      seenLive = await leases.isLive(`${name}.sqlite`);
      await redis.flushdb(); // a flush or a failover to an empty replica
      await sleep(700); // more than a third of the lease: renewed since
      liveAfterLoss = await leases.isLive(name);
    });
    assert.equal(seenLive, true);
    assert.equal(liveAfterLoss, true, 'the renewal re-created the lease');
    assert.equal(await leases.isLive(name), false, 'released with the work');
  });

  test('the sweep removes a dead test’s copies and keeps a running one’s', async () => {
    const dir = join(work, 'local', '.scratch');
    await mkdir(dir, { recursive: true });
    const dead = scratchName('20261202T013000Z-dead00');
    const live = scratchName('20261202T013000Z-live00');
    const old = new Date(Date.now() - 60_000);
    for (const name of [dead, live]) {
      await writeFile(join(dir, `${name}.sqlite`), 'x');
      await utimes(join(dir, `${name}.sqlite`), old, old);
    }
    const dropped: string[] = [];
    const server = {
      incremental: false,
      removeScratchLeftovers: async (prefix: string, isLive: (name: string) => Promise<boolean>) => {
        const gone: string[] = [];
        for (const name of [dead, live])
          if (name.startsWith(prefix) && !(await isLive(name))) gone.push(name);
        dropped.push(...gone);
        return gone;
      },
    };
    const config = {
      local: { path: join(work, 'local') },
      policies: {},
      targets: [{ id: 'db' }],
    } as unknown as LoadedConfig;
    const cleaner = new ScratchCleaner(config, redis, leases);
    await cleaner.record(dead, 'db');
    await cleaner.record(live, 'db');
    await leases.hold(live, async () => {
      await cleaner.beforeRestoreTest('db', server as never);
    });
    assert.deepEqual(dropped, [dead]);
    assert.deepEqual(await readdir(dir), [`${live}.sqlite`]);
    assert.ok(dead.startsWith(SCRATCH_PREFIX));
  });
});
