import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error';
import { cronProblem, nextRun, nextRuns } from './schedule';

const iso = (dates: Date[]): string[] => dates.map((date) => date.toISOString());

describe('cronProblem', () => {
  test('accepts valid 5-field expressions', () => {
    for (const schedule of [
      '0 2 * * *',
      ' 0  2 * * * ',
      '*/5 * * * *',
      '0 0 29 2 *',
      '0 8-18/2 * * MON-FRI',
    ]) {
      assert.equal(cronProblem(schedule), undefined, schedule);
    }
  });

  test('names the field that is out of range', () => {
    assert.equal(cronProblem('61 * * * *'), 'minute must be 0-59');
    assert.equal(cronProblem('0 24 * * *'), 'hour must be 0-23');
    assert.equal(cronProblem('0 0 32 * *'), 'day of month must be 1-31');
    assert.equal(cronProblem('0 0 * 0 *'), 'month must be 1-12');
    assert.equal(cronProblem('0 0 * * 8'), 'day of week must be 0-7');
  });

  test('rejects other field count and dates that never occur', () => {
    assert.equal(cronProblem(''), 'expected 5 fields, got 0');
    assert.equal(cronProblem('0 0 0 2 * *'), 'expected 5 fields, got 6');
    assert.equal(cronProblem('0 0 30 2 *'), 'invalid explicit day of month definition');
    assert.equal(cronProblem('*/0 * * * *'), 'minute: constraint error, cannot repeat at every 0 time.');
  });
});

describe('nextRun', () => {
  test('is strictly after the given time', () => {
    assert.equal(
      nextRun('0 2 * * *', 'UTC', new Date('2026-01-01T02:00:00Z')).toISOString(),
      '2026-01-02T02:00:00.000Z',
    );
    assert.equal(
      nextRun('0 2 * * *', 'UTC', new Date('2026-01-01T01:59:59Z')).toISOString(),
      '2026-01-01T02:00:00.000Z',
    );
  });

  test('reads the schedule as wall-clock time in the time zone', () => {
    assert.equal(
      nextRun('0 2 * * *', 'America/New_York', new Date('2026-01-01T00:00:00Z')).toISOString(),
      '2026-01-01T07:00:00.000Z',
    );
  });

  test('rejects an invalid schedule or time zone with a ConfigError', () => {
    assert.throws(() => nextRun('61 * * * *', 'UTC', new Date()), {
      name: 'ConfigError',
      message: '"61 * * * *" is not a valid cron expression (minute must be 0-59)',
    });
    assert.throws(
      () => nextRun('0 2 * * *', 'Mars/Base', new Date()),
      (error: unknown) =>
        error instanceof ConfigError && error.message === '"Mars/Base" is not a known IANA time zone',
    );
  });
});

describe('nextRuns across DST in Europe/Berlin', () => {
  test('spring forward: 02:30 does not exist on 29 March, so that run is at 03:30 CEST', () => {
    const runs = nextRuns('30 2 * * *', 'Europe/Berlin', new Date('2026-03-27T12:00:00Z'), 3);
    assert.deepEqual(iso(runs), [
      '2026-03-28T01:30:00.000Z', // 02:30 CET (UTC+1)
      '2026-03-29T01:30:00.000Z', // 03:30 CEST: the skipped hour
      '2026-03-30T00:30:00.000Z', // 02:30 CEST (UTC+2)
    ]);
  });

  test('fall back: 02:30 happens twice on 25 October but runs once', () => {
    const runs = nextRuns('30 2 * * *', 'Europe/Berlin', new Date('2026-10-24T12:00:00Z'), 2);
    assert.deepEqual(iso(runs), [
      '2026-10-25T00:30:00.000Z', // 02:30 CEST, the first of the two
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
  });

  test('an hourly schedule keeps firing every real hour through the change', () => {
    const runs = nextRuns('0 * * * *', 'Europe/Berlin', new Date('2026-03-28T23:30:00Z'), 4);
    assert.deepEqual(iso(runs), [
      '2026-03-29T00:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-29T02:00:00.000Z',
      '2026-03-29T03:00:00.000Z',
    ]);
  });

  test('returns exactly count runs, and none for zero', () => {
    assert.equal(nextRuns('*/5 * * * *', 'UTC', new Date('2026-01-01T00:00:00Z'), 12).length, 12);
    assert.deepEqual(nextRuns('*/5 * * * *', 'UTC', new Date('2026-01-01T00:00:00Z'), 0), []);
  });
});
