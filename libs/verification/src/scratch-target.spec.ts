import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Logger, type LoggerService } from '@nestjs/common';
import type { LoadedConfig } from '@tidemark/config';
import { validateConfig } from '@tidemark/policy';
import { sourceKinds } from '@tidemark/source-kinds';
import { Redis } from 'ioredis';
import { ScratchCleaner } from './scratch-cleaner';
import { ScratchLeases } from './scratch-leases';
import { NO_SCRATCH, scratchPlace } from './scratch-target';

// Redis DB 7 (the drills helper's): the cleaner's sweep reads its leases there.
const REDIS_URL = 'redis://127.0.0.1:6379/7';

describe('where restore tests make their copies', () => {
  let work: string;
  let redis: Redis;
  let config: LoadedConfig;
  const env = {
    PG_URL: 'postgres://u:secret@127.0.0.1:1/orders',
    SCRATCH_URL: 'postgres://s:pw@scratch/postgres',
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tidemark-scratch-target-'));
    redis = new Redis(REDIS_URL);
    config = validateConfig(
      {
        local: { path: join(work, 'local') },
        policies: {
          scratched: {
            schedule: '0 2 * * *',
            verify: { scratch: { url: '${SCRATCH_URL}', path: join(work, 'scratch') } },
          },
          plain: { schedule: '0 2 * * *' },
        },
        targets: [
          { id: 'orders', kind: 'postgres', url: '${PG_URL}', policy: 'scratched' },
          { id: 'files', kind: 'directory', url: join(work, 'files'), policy: 'scratched' },
          { id: 'loose', kind: 'directory', url: join(work, 'loose'), policy: 'plain' },
        ],
      },
      undefined,
      { kinds: sourceKinds() },
    ) as LoadedConfig;
  });

  after(async () => {
    await redis.quit();
    await rm(work, { recursive: true, force: true });
  });

  test('a scratch server for server kinds, a scratch directory for file kinds, else the source', () => {
    const server = scratchPlace(config, 'orders', env);
    assert.ok(server.server, 'a source on the scratch server');
    assert.equal(server.dir, null);
    assert.equal(server.description, 'scratch server ${SCRATCH_URL}');
    assert.deepEqual(scratchPlace(config, 'files', env), {
      server: null,
      dir: join(work, 'scratch'),
      description: `directory ${join(work, 'scratch')}`,
    });
    assert.deepEqual(scratchPlace(config, 'loose', env), {
      server: null,
      dir: null,
      description: NO_SCRATCH,
    });
  });

  test('the verifier warns once at start for each target without a scratch, and only for those', async () => {
    const warnings: string[] = [];
    const capture: LoggerService = {
      log: () => undefined,
      error: () => undefined,
      warn: (message: unknown, ...rest: unknown[]) => {
        warnings.push(JSON.stringify([message, ...rest]));
      },
    };
    Logger.overrideLogger(capture);
    try {
      const cleaner = new ScratchCleaner(config, redis, new ScratchLeases(redis));
      cleaner.onApplicationBootstrap();
      await cleaner.onApplicationShutdown();
    } finally {
      Logger.overrideLogger(false);
    }
    const unscratched = warnings.filter((w) => w.includes('no verify.scratch for this target'));
    assert.equal(unscratched.length, 1, warnings.join('\n'));
    assert.match(unscratched[0] ?? '', /"targetId":"loose"/);
    assert.doesNotMatch(warnings.join('\n'), /secret|pw@/);
  });
});
