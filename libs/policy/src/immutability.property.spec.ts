import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BACKUP_STATUSES } from '@tidemark/manifest';
import { planImmutableRetention, type BlobProtection } from './immutability';
import { planWithHorizons } from './retention';
import type { BackupSnapshot } from './retention.types';
import { validateConfig } from './validate-config';

const DAY_MS = 86_400_000;
const NOW = new Date('2026-12-01T00:00:00Z');

const policyArb = fc
  .record({
    keepLast: fc.integer({ min: 0, max: 10 }),
    daily: fc.integer({ min: 0, max: 10 }),
    weekly: fc.integer({ min: 0, max: 6 }),
    monthly: fc.integer({ min: 0, max: 14 }),
    yearly: fc.integer({ min: 0, max: 3 }),
  })
  .map((remote) => {
    const policy = validateConfig({
      policies: { p: { schedule: '0 2 * * *', retention: { remote } } },
      targets: [{ id: 't', kind: 'k', url: '/x', policy: 'p' }],
    }).policies['p'];
    if (policy === undefined) throw new Error('policy missing');
    return policy;
  });

const protectionArb: fc.Arbitrary<BlobProtection | undefined> = fc.option(
  fc.record({
    until: fc.option(
      fc.integer({ min: -400, max: 400 }).map((days) => new Date(NOW.getTime() + days * DAY_MS)),
      {
        nil: null,
      },
    ),
    mode: fc.constantFrom('locked' as const, 'unlocked' as const),
    legalHold: fc.boolean(),
  }),
  { nil: undefined },
);

const backupsArb = fc.array(
  fc.record({
    ageMinutes: fc.integer({ min: 0, max: 800 * 1440 }),
    status: fc.constantFrom(...BACKUP_STATUSES),
    pinned: fc.boolean(),
    protection: protectionArb,
  }),
  { maxLength: 40 },
);

describe('planImmutableRetention (properties)', () => {
  test('never deletes a protected backup, never shortens a lock, locks kept backups to their horizon', () => {
    fc.assert(
      fc.property(policyArb, backupsArb, fc.integer({ min: 1, max: 400 }), (policy, specs, days) => {
        const settings = { mode: 'locked' as const, days };
        const backups: BackupSnapshot[] = specs.map((spec, index) => {
          const takenAt = new Date(NOW.getTime() - spec.ageMinutes * 60_000);
          return {
            backupId: `b${String(index).padStart(3, '0')}`,
            takenAt,
            status: spec.status,
            pinned: spec.pinned,
            tier: 'Cool',
            tierSince: takenAt,
            sizeBytes: 1,
          };
        });
        const protection = new Map<string, BlobProtection>();
        specs.forEach((spec, index) => {
          if (spec.protection) protection.set(`b${String(index).padStart(3, '0')}`, spec.protection);
        });
        const plan = planImmutableRetention(backups, protection, policy, settings, NOW);
        const horizons = new Map(planWithHorizons(backups, policy, NOW).map((p) => [p.decision.backupId, p]));
        const changes = new Map(plan.changes.map((change) => [change.backupId, change]));
        assert.equal(plan.decisions.length, backups.length);
        for (const decision of plan.decisions) {
          const current = protection.get(decision.backupId);
          const backup = backups.find((b) => b.backupId === decision.backupId);
          assert.ok(backup);
          const protectedNow =
            current !== undefined &&
            (current.legalHold || (current.until !== null && current.until.getTime() > NOW.getTime()));
          if (protectedNow) assert.equal(decision.action, 'keep', `${decision.backupId} is protected`);
          const unlocked = horizons.get(decision.backupId)?.decision;
          // Locks only turn deletions into keeps, never the other way round.
          if (unlocked?.action === 'keep') assert.equal(decision.action, 'keep');
          const change = changes.get(decision.backupId);
          if (change?.extendTo !== undefined) {
            assert.equal(unlocked?.action, 'keep');
            assert.ok(current?.until == null || change.extendTo.getTime() > current.until.getTime());
          }
          if (unlocked?.action !== 'keep' || unlocked.reasons.includes('in progress')) {
            assert.equal(change, undefined);
            continue;
          }
          // What the blob carries afterwards covers its horizon and the minimum days.
          const after = change?.extendTo ?? current?.until ?? null;
          const wanted = Math.max(
            backup.takenAt.getTime() + days * DAY_MS,
            horizons.get(decision.backupId)?.keptUntil?.getTime() ?? 0,
          );
          if (wanted > NOW.getTime())
            assert.ok(after !== null && after.getTime() >= wanted, `${decision.backupId} locked too short`);
          if (change?.extendTo !== undefined) assert.ok(change.extendTo.getTime() > NOW.getTime());
          const holdAfter =
            change?.legalHold === 'set'
              ? true
              : change?.legalHold === 'clear'
                ? false
                : (current?.legalHold ?? false);
          assert.equal(holdAfter, backup.pinned);
        }
      }),
      { numRuns: 300 },
    );
  });
});
