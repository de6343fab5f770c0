import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EventPublisher } from '@tidemark/events';
import { MemoryLock, StageHarness } from '@tidemark/in-memory';
import { Redis } from 'ioredis';
import { BEING_DRILLED, DrillHolds, withDrillHolds } from './drill-holds';
import type { PlannedBackup } from './retention-plan';
import { RetentionPlanner } from './retention-plan';
import { RetentionService } from './retention.service';

// Redis DB 7 is this spec's own (the drills helper's); the holds are real keys with a real TTL.
const REDIS_URL = 'redis://127.0.0.1:6379/7';

const CONFIG = `
storage: { container: unit }
local: { path: __LOCAL__, minFreeBytes: 0 }
policies:
  quick:
    schedule: "0 3 * * *"
    verify: { restoreTest: false }
    retention: { remote: { keepLast: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0, minKeep: 1 } }
targets:
  - { id: files, kind: directory, url: "\${FILES_DIR}", policy: quick }
`;

function planned(backupId: string, overrides: Partial<PlannedBackup>): PlannedBackup {
  return {
    backupId,
    takenAt: '2026-12-01T00:00:00.000Z',
    ageDays: 40,
    status: 'verified',
    pinned: false,
    tier: 'Cool',
    sizeBytes: 1,
    action: 'keep',
    reasons: ['keepLast'],
    tierMove: null,
    ...overrides,
  };
}

describe('retention leaves a backup a drill is reading alone', () => {
  let redis: Redis;
  let files: string;

  before(async () => {
    redis = new Redis(REDIS_URL);
    files = await mkdtemp(join(tmpdir(), 'tidemark-drill-holds-'));
    await writeFile(join(files, 'a.txt'), 'alpha');
  });

  after(async () => {
    await redis.quit();
    await rm(files, { recursive: true, force: true });
  });

  test('a held backup is kept in its tier, "being drilled"; others are planned as before', () => {
    const plan = [
      planned('b1', { action: 'delete', reasons: ['beyond keepLast'] }),
      planned('b2', {
        tierMove: { from: 'Cool', to: 'Archive', reason: 'archiveAfterDays 30' },
        tierNote: 'x',
      }),
      planned('b3', { action: 'delete', reasons: ['beyond keepLast'] }),
    ];
    const held = withDrillHolds(plan, new Set(['b1', 'b2']));
    assert.deepEqual(
      held.map((b) => [b.backupId, b.action, b.reasons, b.tierMove, b.tierNote]),
      [
        ['b1', 'keep', [BEING_DRILLED], null, undefined],
        ['b2', 'keep', [BEING_DRILLED], null, undefined],
        ['b3', 'delete', ['beyond keepLast'], null, undefined],
      ],
    );
  });

  test('through a real retention run: held, the oldest survives; released, it goes', async () => {
    const harness = await StageHarness.create(CONFIG, { FILES_DIR: files });
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      await writeFile(join(files, 'a.txt'), `alpha ${i}`);
      const { backupId } = await harness.pipeline.request('files', 'manual');
      await harness.drain();
      ids.push(backupId);
    }
    const holds = new DrillHolds(redis);
    const { config, catalog, manifests, store, local, bus, metrics } = harness;
    const lock = Object.assign(new MemoryLock(), { ttlMs: 60_000 });
    const planner = new RetentionPlanner(config, catalog, local, store);
    const service = new RetentionService(
      config,
      catalog,
      manifests,
      store,
      local,
      planner,
      lock,
      new EventPublisher(bus, 'retention'),
      metrics,
      holds,
    );
    // Three backups within a second: their ids (time, then a random suffix) order them as retention sees them.
    const [oldest, middle, newest] = [...ids].sort() as [string, string, string];
    await holds.hold('files', [oldest], 'drill-1', 60_000);
    assert.deepEqual([...(await holds.held('files', ids))], [oldest]);
    const ttl = await redis.pttl(`tidemark:drilling:files:${oldest}`);
    assert.ok(ttl > 0 && ttl <= 60_000, `the mark expires on its own (ttl ${ttl})`);

    const first = await service.apply('files');
    assert.deepEqual(first.deleted, [middle]);
    assert.ok(await manifests.find(oldest, 'files'), 'the drilled backup is still there');

    await holds.release('files', [oldest]);
    assert.deepEqual([...(await holds.held('files', ids))], []);
    const second = await service.apply('files');
    assert.deepEqual(second.deleted, [oldest]);
    assert.ok(await manifests.find(newest, 'files'));
  });
});
