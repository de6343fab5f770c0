import assert from 'node:assert/strict';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { isEvent, RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { uniqueName, waitFor } from '@tidemark/testing';
import { createSeededDatabase, dropDatabase } from './support/database';
import { TestStack } from './support/stack';

const CONFIG = `
storage: { container: e2e-retention }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  nightly:
    schedule: "0 3 * * *"
    retention:
      local: { days: 7 }
      remote: { keepLast: 3, daily: 7, weekly: 4, monthly: 6, yearly: 2 }
    tiering: { initial: Cool, archiveAfterDays: 90 }
    verify: { restoreTest: false }
targets:
  - { id: ret-db, kind: postgres, url: "\${RET_DB_URL}", policy: nightly }
`;

describe('retention end to end: driven by backup.verified, planned and pinned from the CLI', () => {
  const source = uniqueName('e2e_ret').replaceAll('-', '_');
  let stack: TestStack;
  let bus: RedisStreamEventBus;
  let backupId: string;

  before(async () => {
    const url = await createSeededDatabase(source);
    stack = await TestStack.start({ config: CONFIG, env: { RET_DB_URL: url }, redisDb: 15 });
    bus = new RedisStreamEventBus(stack.redisUrl);
  });

  /** The CLI's audit trail of ret-db: it acts on storage and queues directly, as the local user. */
  async function audits(type: string): Promise<TidemarkEvent[]> {
    const events = (await bus.history({ targetId: 'ret-db' }))
      .map((e) => e.event)
      .filter((e) => e.type === type);
    for (const event of events) {
      assert.equal(event.source, '/tidemark/cli');
      assert.deepEqual(event.data['actor'], { kind: 'local', user: userInfo().username });
      assert.equal(event.data['via'], 'cli');
    }
    return events;
  }

  after(async () => {
    await bus.close();
    await stack.stop();
    await dropDatabase(source);
  });

  test('a verified backup sets the retention service going: retention.applied for that target', async () => {
    const result = await stack.cli(['backup', 'ret-db', '--wait', '--json', '--timeout', '300']);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    backupId = (JSON.parse(result.stdout) as { backupId: string }).backupId;
    const requested = await audits('tidemark.audit.backup_requested');
    assert.deepEqual(
      requested.map((e) => [e.data.backupId, e.data['coalesced']]),
      [[backupId, false]],
    );
    const applied = await waitFor(
      async () =>
        (await bus.history({ targetId: 'ret-db' }))
          .map((e) => e.event)
          .find((e) => isEvent(e, 'tidemark.retention.applied')),
      { timeoutMs: 60_000, intervalMs: 250, what: 'tidemark.retention.applied for ret-db' },
    );
    assert.equal(applied.source, '/tidemark/retention');
    assert.equal(applied.subject, 'ret-db');
    assert.deepEqual(applied.data.counts, {
      kept: 1,
      deleted: 0,
      resumed: 0,
      tiered: 0,
      localRemoved: 0,
      localKept: 0,
      unreadable: 0,
      failed: 0,
    });
    const metrics = await stack.metrics('retention');
    assert.match(metrics, /tidemark_storage_bytes\{[^}]*target="ret-db",tier="Cool"[^}]*\} [1-9]\d*/);
  });

  test('tidemark retention plan prints the table and --json', async () => {
    const table = await stack.cli(['retention', 'plan', 'ret-db']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /BACKUP\s+AGE\s+STATUS\s+TIER\s+REASONS\s+ACTION\s+TIERMOVE/);
    const row = table.stdout.split('\n').find((line) => line.startsWith(backupId)) ?? '';
    assert.match(
      row,
      /verified\s+Cool\s+newest verified, keepLast, daily \S+, weekly \S+, monthly \S+, yearly \d{4}\s+keep/,
    );
    assert.match(table.stdout, /1 kept, 0 to delete/);
    const json = await stack.cli(['retention', 'plan', 'ret-db', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const plan = JSON.parse(json.stdout) as {
      backups: { backupId: string; action: string }[];
      policy: string;
    };
    assert.equal(plan.policy, 'nightly');
    assert.deepEqual(
      plan.backups.map((b) => [b.backupId, b.action]),
      [[backupId, 'keep']],
    );
    const unknown = await stack.cli(['retention', 'plan', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^tidemark: .*unknown target "nope"/);
  });

  test('pin and unpin round-trip through the manifest; the plan shows the pin', async () => {
    const pinned = await stack.cli(['pin', backupId]);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.match(pinned.stdout, /pinned/);
    const shown = JSON.parse((await stack.cli(['show', backupId])).stdout) as { pinned: boolean };
    assert.equal(shown.pinned, true);
    assert.match((await stack.cli(['retention', 'plan', 'ret-db'])).stdout, /pinned, newest verified/);
    const unpinned = await stack.cli(['unpin', backupId, '--json']);
    assert.equal(unpinned.code, 0, unpinned.stderr);
    assert.deepEqual(JSON.parse(unpinned.stdout), { backupId, targetId: 'ret-db', pinned: false });
    assert.equal(
      (JSON.parse((await stack.cli(['show', backupId])).stdout) as { pinned: boolean }).pinned,
      false,
    );
    const missing = await stack.cli(['pin', '20200101T000000Z-zzzzzz']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no backup 20200101T000000Z-zzzzzz/);
    assert.deepEqual(
      (await audits('tidemark.audit.pinned')).map((e) => e.data.backupId),
      [backupId],
    );
    assert.deepEqual(
      (await audits('tidemark.audit.unpinned')).map((e) => e.data.backupId),
      [backupId],
    );
  });

  test('tidemark retention apply --dry-run reports and changes nothing', async () => {
    const before = (await bus.history({ targetId: 'ret-db' })).length;
    const dry = await stack.cli(['retention', 'apply', 'ret-db', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const report = JSON.parse(dry.stdout) as { dryRun: boolean; kept: number; deleted: string[] };
    assert.deepEqual([report.dryRun, report.kept, report.deleted], [true, 1, []]);
    assert.equal((await bus.history({ targetId: 'ret-db' })).length, before, 'nothing published');
    const real = await stack.cli(['retention', 'apply', 'ret-db']);
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, /ret-db: 1 kept, deleted 0/);
    const applied = await audits('tidemark.audit.retention_applied');
    assert.deepEqual(
      applied.map((e) => [e.data['deleted'], e.data['tiered']]),
      [[0, 0]],
      'the real run only',
    );
  });

  test('a restore is on the audit trail before it runs, naming backup and destination', async () => {
    const to = join(stack.dir, 'restored.pgc');
    const restored = await stack.cli(['restore', 'ret-db', '--backup', backupId, '--to', to]);
    assert.equal(restored.code, 0, restored.stderr);
    const restores = await audits('tidemark.audit.restore_requested');
    assert.deepEqual(
      restores.map((e) => [e.data.backupId, e.data['destination']]),
      [[backupId, to]],
    );
  });
});
