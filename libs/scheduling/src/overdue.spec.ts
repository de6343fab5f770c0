import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assessOverdue, previousRun, type OverdueInput } from './overdue';

const base: OverdueInput = {
  now: new Date('2026-06-10T12:00:00Z'),
  rpoHours: 25,
  schedule: '0 2 * * *',
  timezone: 'UTC',
  graceMs: 15 * 60_000,
  lastVerified: { backupId: '20260610T020000Z-aaaaaa', at: new Date('2026-06-10T02:00:00Z') },
  newestStartedAt: new Date('2026-06-10T02:00:00Z'),
  watchedSince: new Date('2026-06-01T00:00:00Z'),
};

describe('assessOverdue and previousRun (pure)', () => {
  test('previousRun reads the cron in the policy time zone, and a firing exactly at `at` counts', () => {
    // 02:00 in Berlin is 00:00 UTC in summer.
    assert.equal(
      previousRun('0 2 * * *', 'Europe/Berlin', new Date('2026-06-10T12:00:00Z')).toISOString(),
      '2026-06-10T00:00:00.000Z',
    );
    assert.equal(
      previousRun('0 2 * * *', 'UTC', new Date('2026-06-10T02:00:00Z')).toISOString(),
      '2026-06-10T02:00:00.000Z',
    );
  });

  test('levels: ok within the RPO, warning beyond it, critical beyond twice it', () => {
    assert.equal(assessOverdue(base).level, 'ok');
    const at = (iso: string): OverdueInput => ({
      ...base,
      now: new Date(iso),
      newestStartedAt: new Date(iso),
    });
    assert.deepEqual(
      ['2026-06-11T03:00:00Z', '2026-06-11T03:00:01Z', '2026-06-12T04:00:00Z', '2026-06-12T04:00:01Z'].map(
        (iso) => assessOverdue(at(iso)).level,
      ),
      ['ok', 'warning', 'warning', 'critical'],
    );
    assert.equal(assessOverdue(at('2026-06-12T04:00:01Z')).reason, 'rpo-exceeded');
  });

  test('a missed run counts only after the grace, and only for runs since the target was watched', () => {
    const missedRun = { ...base, newestStartedAt: new Date('2026-06-09T02:00:00Z') };
    assert.equal(assessOverdue({ ...missedRun, now: new Date('2026-06-10T02:14:00Z') }).level, 'ok');
    const missed = assessOverdue({ ...missedRun, now: new Date('2026-06-10T02:16:00Z') });
    assert.deepEqual([missed.level, missed.reason], ['warning', 'missed-schedule']);
    assert.equal(missed.missedRunAt?.toISOString(), '2026-06-10T02:00:00.000Z');
    assert.equal(
      assessOverdue({
        ...missedRun,
        now: new Date('2026-06-10T02:16:00Z'),
        watchedSince: new Date('2026-06-10T02:10:00Z'),
      }).level,
      'ok',
      'the scheduler was not watching when that run was due',
    );
  });

  test('without any verified backup the age runs from when the target was first watched', () => {
    const never = { ...base, lastVerified: undefined, watchedSince: new Date('2026-06-09T10:00:00Z') };
    const result = assessOverdue(never);
    assert.deepEqual([result.level, result.ageSeconds, result.lastVerifiedBackupId], ['warning', null, null]);
  });
});
