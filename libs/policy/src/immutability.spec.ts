import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error';
import {
  commitProtection,
  deletionBlock,
  immutabilityOf,
  immutabilityWarnings,
  planImmutableRetention,
  walProtection,
  type BlobProtection,
} from './immutability';
import type { BackupSnapshot } from './retention.types';
import { validateConfig } from './validate-config';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-01T12:00:00Z');

function load(extra: { storage?: unknown; policy?: Record<string, unknown> } = {}) {
  return validateConfig({
    ...(extra.storage === undefined ? {} : { storage: extra.storage }),
    policies: { standard: { schedule: '0 2 * * *', ...extra.policy } },
    targets: [{ id: 't', kind: 'alpha', url: '/x', policy: 'standard' }],
  });
}

function problems(extra: Parameters<typeof load>[0]): string[] {
  try {
    load(extra);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

function policyOf(config: ReturnType<typeof load>) {
  const policy = config.policies['standard'];
  assert.ok(policy);
  return policy;
}

function backup(daysAgo: number, extra: Partial<BackupSnapshot> = {}): BackupSnapshot {
  const takenAt = new Date(NOW.getTime() - daysAgo * DAY_MS);
  return {
    backupId: `b-${String(daysAgo).padStart(4, '0')}`,
    takenAt,
    status: 'verified',
    pinned: false,
    tier: 'Cool',
    tierSince: takenAt,
    sizeBytes: 1,
    ...extra,
  };
}

const locked = (until: Date, legalHold = false): BlobProtection => ({ until, mode: 'locked', legalHold });

describe('immutability config', () => {
  test('storage.immutability and a per-policy override are read; the override wins', () => {
    const config = load({
      storage: { immutability: { mode: 'unlocked', days: 35 } },
      policy: { immutability: { mode: 'locked', days: 90 } },
    });
    assert.deepEqual(config.storage.immutability, { mode: 'unlocked', days: 35 });
    assert.deepEqual(immutabilityOf(config, policyOf(config)), { mode: 'locked', days: 90 });
    const plain = load({ storage: { immutability: { mode: 'unlocked', days: 35 } } });
    assert.deepEqual(immutabilityOf(plain, policyOf(plain)), { mode: 'unlocked', days: 35 });
    const none = load();
    assert.equal(immutabilityOf(none, policyOf(none)), undefined);
  });

  test('a bad mode, days below 1, a missing key and an unknown key are refused at their paths', () => {
    assert.deepEqual(problems({ storage: { immutability: { mode: 'frozen', days: 35 } } }), [
      'storage.immutability.mode: must be one of unlocked, locked',
    ]);
    assert.deepEqual(problems({ storage: { immutability: { mode: 'locked', days: 0 } } }), [
      'storage.immutability.days: must be at least 1',
    ]);
    assert.deepEqual(problems({ policy: { immutability: { mode: 'locked' } } }), [
      'policies.standard.immutability.days: required',
    ]);
    assert.deepEqual(problems({ policy: { immutability: { mode: 'locked', days: 1.5 } } }), [
      'policies.standard.immutability.days: must be a whole number (got 1.5)',
    ]);
    assert.deepEqual(problems({ storage: { immutability: { mode: 'locked', days: 3, legal: true } } }), [
      'storage.immutability: unknown key "legal"',
    ]);
  });

  test('a policy keeping backups for less than its lock is a warning naming both', () => {
    const short = load({
      storage: { immutability: { mode: 'locked', days: 35 } },
      policy: { retention: { remote: { keepLast: 7, daily: 7, weekly: 2, monthly: 0, yearly: 0 } } },
    });
    assert.deepEqual(immutabilityWarnings(short), [
      {
        path: 'policies.standard.retention.remote',
        message:
          'keeps backups at most ~14 d, shorter than the 35 d lock of storage.immutability: their blobs outlive the policy until the lock runs out',
      },
    ]);
    // The defaults keep monthlies for a year: no warning.
    assert.deepEqual(
      immutabilityWarnings(load({ storage: { immutability: { mode: 'locked', days: 35 } } })),
      [],
    );
    assert.deepEqual(immutabilityWarnings(load()), []);
  });
});

describe('commitProtection', () => {
  const policy = policyOf(load());

  test('locks until the later of now + days and the planned expiry (keepLast / daily)', () => {
    const takenAt = new Date(NOW.getTime() - DAY_MS);
    const short = commitProtection(takenAt, false, policy, { mode: 'locked', days: 3 }, NOW);
    // Defaults: keepLast 7, daily 7 → 7 days after it was taken.
    assert.deepEqual(short, {
      until: new Date(takenAt.getTime() + 7 * DAY_MS),
      mode: 'locked',
      legalHold: false,
    });
    const long = commitProtection(takenAt, false, policy, { mode: 'unlocked', days: 35 }, NOW);
    assert.deepEqual(long, {
      until: new Date(NOW.getTime() + 35 * DAY_MS),
      mode: 'unlocked',
      legalHold: false,
    });
  });

  test('a pinned backup also gets a legal hold', () => {
    assert.equal(commitProtection(NOW, true, policy, { mode: 'locked', days: 1 }, NOW).legalHold, true);
  });
});

describe('walProtection', () => {
  test('locks a WAL file for the longer of the lock days and the PITR window, from when it was received', () => {
    const received = new Date('2026-12-01T10:00:00.000Z');
    assert.deepEqual(walProtection(received, 7, { mode: 'locked', days: 35 }), {
      until: new Date(received.getTime() + 35 * DAY_MS),
      mode: 'locked',
    });
    assert.deepEqual(walProtection(received, 14, { mode: 'unlocked', days: 3 }), {
      until: new Date(received.getTime() + 14 * DAY_MS),
      mode: 'unlocked',
    });
  });
});

describe('deletionBlock', () => {
  test('a legal hold or an unexpired lock blocks deletion; an expired lock or none does not', () => {
    assert.equal(
      deletionBlock(locked(new Date(NOW.getTime() + DAY_MS)), NOW),
      'locked until 2026-12-02T12:00:00.000Z',
    );
    assert.equal(deletionBlock(locked(new Date(NOW.getTime() - DAY_MS), true), NOW), 'legal hold');
    assert.equal(deletionBlock(locked(new Date(NOW.getTime() - DAY_MS)), NOW), undefined);
    assert.equal(deletionBlock(undefined, NOW), undefined);
    assert.equal(deletionBlock({ until: null, mode: null, legalHold: false }, NOW), undefined);
  });
});

describe('planImmutableRetention', () => {
  const settings = { mode: 'locked', days: 10 } as const;
  const policy = policyOf(
    load({ policy: { retention: { remote: { keepLast: 1, daily: 0, weekly: 0, monthly: 2, yearly: 0 } } } }),
  );

  test('an expired backup still locked is kept, reported with the lock expiry', () => {
    const old = backup(40);
    const newest = backup(0);
    const until = new Date(NOW.getTime() + 5 * DAY_MS);
    const plan = planImmutableRetention(
      [old, backup(70), backup(20), newest],
      new Map([[old.backupId, locked(until)]]),
      policy,
      settings,
      NOW,
    );
    const decision = plan.decisions.find((d) => d.backupId === old.backupId);
    assert.deepEqual(decision, {
      backupId: old.backupId,
      action: 'keep',
      reasons: ['locked until 2026-12-06T12:00:00.000Z', 'then expired'],
      tier: null,
    });
    // The 70-day old one is not locked: it goes.
    assert.equal(plan.decisions.find((d) => d.backupId === 'b-0070')?.action, 'delete');
  });

  test('a backup promoted to a monthly has its lock extended to the monthly horizon, never shortened', () => {
    // NOW is 2026-12-01: the 5-day old backup is November's newest, and November is over.
    const monthly = backup(5);
    const newest = backup(0);
    const shortLock = locked(new Date(NOW.getTime() + 10 * DAY_MS));
    const protection = new Map([
      [monthly.backupId, shortLock],
      [newest.backupId, shortLock],
    ]);
    const plan = planImmutableRetention([monthly, newest], protection, policy, settings, NOW);
    // monthly 2 → two months after it was taken.
    assert.deepEqual(plan.changes, [
      {
        backupId: monthly.backupId,
        required: { until: new Date('2027-01-26T12:00:00.000Z'), mode: 'locked', legalHold: false },
        extendTo: new Date('2027-01-26T12:00:00.000Z'),
      },
    ]);
    const longLock = locked(new Date('2027-06-01T00:00:00Z'));
    assert.deepEqual(
      planImmutableRetention([monthly], new Map([[monthly.backupId, longLock]]), policy, settings, NOW)
        .changes,
      [],
    );
  });

  test("the newest backup of a running month is not locked for the month's slot: a later one may take it", () => {
    const today = backup(0);
    const plan = planImmutableRetention([today], new Map(), policy, settings, NOW);
    // Only the minimum: 10 days after it was taken.
    assert.deepEqual(
      plan.changes.map((change) => change.extendTo),
      [new Date(NOW.getTime() + 10 * DAY_MS)],
    );
  });

  test('pinning sets a legal hold, unpinning clears it; a pinned backup past its lock is kept by the pin', () => {
    const pinned = backup(100, { pinned: true });
    const unpinned = backup(1);
    const protection = new Map([
      [pinned.backupId, locked(new Date(NOW.getTime() - DAY_MS))],
      [unpinned.backupId, locked(new Date(NOW.getTime() + 30 * DAY_MS), true)],
    ]);
    const plan = planImmutableRetention([pinned, unpinned], protection, policy, settings, NOW);
    assert.deepEqual(
      plan.changes.map((change) => [change.backupId, change.legalHold]),
      [
        [pinned.backupId, 'set'],
        [unpinned.backupId, 'clear'],
      ],
    );
    assert.ok(plan.decisions.every((d) => d.action === 'keep'));
  });

  test('a backup in progress is left to its commit', () => {
    const running = backup(0, { status: 'dumping', tier: null });
    assert.deepEqual(planImmutableRetention([running], new Map(), policy, settings, NOW).changes, []);
  });
});
