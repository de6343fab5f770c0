import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UnrecoverableError } from 'bullmq';
import {
  backoffDelay,
  isUnavailable,
  jobOptions,
  JOBS,
  retryDelay,
  retryPolicy,
  STAGE_WORKER_SETTINGS,
  type RetryPolicy,
} from './jobs';
import { finalFailureOf, InvalidJobError, isFinalFailure, isLastAttempt, parseJob } from './parse-job';

/** As libs/storage's StorageError carries it. */
const unavailable = Object.assign(new Error('Blob Storage at http://x is unreachable'), {
  code: 'unavailable',
});
const ordinary = Object.assign(new Error('pg_dump broke off'), { code: 'source-unreachable' });

/** Attempts a stage makes, and the time it waits in all, before it gives up on `error`. */
function budgetOf(policy: RetryPolicy, error: unknown): { attempts: number; waitedMs: number } {
  let waitedMs = 0;
  for (let attempts = 1; ; attempts += 1) {
    const delay = retryDelay(JOBS.verify, attempts, error, policy);
    if (delay === -1) return { attempts, waitedMs };
    waitedMs += delay;
  }
}

describe('stage retry policy', () => {
  test('by default an outage is retried for at least 10 minutes, with delays capped', () => {
    const policy = retryPolicy({});
    const { attempts, waitedMs } = budgetOf(policy, unavailable);
    assert.ok(waitedMs >= 10 * 60_000, `waited ${waitedMs} ms`);
    assert.ok(waitedMs < 15 * 60_000 + policy.maxDelayMs);
    assert.ok(attempts < JOBS.verify.options.attempts, 'within BullMQ’s cap');
    assert.equal(backoffDelay(policy, 30), policy.maxDelayMs);
  });

  test('the budget and the delays are configurable', () => {
    const policy = retryPolicy({ TIDEMARK_RETRY_DELAY_MS: '100', TIDEMARK_UNAVAILABLE_RETRY_MS: '2000' });
    assert.deepEqual(policy, { baseDelayMs: 100, maxDelayMs: 1600, unavailableBudgetMs: 2000 });
    const { waitedMs } = budgetOf(policy, unavailable);
    assert.ok(waitedMs >= 2000 && waitedMs < 2000 + 1600);
    assert.equal(retryPolicy({ TIDEMARK_RETRY_MAX_DELAY_MS: '7000' }).maxDelayMs, 7000);
  });

  test('an ordinary transient failure keeps the stage’s attempts', () => {
    const policy = retryPolicy({ TIDEMARK_RETRY_DELAY_MS: '300' });
    assert.equal(budgetOf(policy, ordinary).attempts, 3);
    assert.equal(retryDelay(JOBS.uploadCommit, 7, ordinary, policy), backoffDelay(policy, 7));
    assert.equal(retryDelay(JOBS.uploadCommit, 8, ordinary, policy), -1);
  });

  test('what counts as unavailable', () => {
    assert.ok(isUnavailable(unavailable));
    assert.ok(isUnavailable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
    assert.ok(
      isUnavailable(Object.assign(new Error('stop segment not archived yet'), { code: 'wal-missing' })),
    );
    assert.ok(isUnavailable(Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' })));
    assert.ok(isUnavailable(new Error('Connection is closed.')));
    assert.ok(!isUnavailable(Object.assign(new Error('denied'), { code: 'auth' })));
    assert.ok(!isUnavailable(ordinary));
    assert.ok(!isUnavailable('unavailable'));
  });

  test('the worker strategy, the final-failure check and the dump’s last attempt agree', () => {
    const job = { queueName: 'verify', name: 'verify', opts: { attempts: JOBS.verify.options.attempts } };
    for (const error of [unavailable, ordinary]) {
      for (let attemptsMade = 1; attemptsMade < 400; attemptsMade += 1) {
        const delay = STAGE_WORKER_SETTINGS.backoffStrategy(attemptsMade, 'tidemark-stage', error, job);
        assert.equal(isFinalFailure({ ...job, attemptsMade }, error), delay === -1);
        if (delay === -1) break;
      }
    }
    assert.ok(isLastAttempt(JOBS.dump, 1, new UnrecoverableError('no')));
    assert.ok(!isLastAttempt(JOBS.dump, 2, ordinary));
    assert.ok(isLastAttempt(JOBS.dump, 3, ordinary));
  });

  test('a job that is not a stage’s still fails finally by its attempts', () => {
    const tick = { queueName: 'schedule', name: 'tick', opts: { attempts: 3 }, data: { targetId: 'a' } };
    assert.ok(!isFinalFailure({ ...tick, attemptsMade: 2 }, unavailable));
    assert.ok(isFinalFailure({ ...tick, attemptsMade: 3 }, unavailable));
    assert.equal(finalFailureOf({ ...tick, attemptsMade: 3 }, unavailable), null, 'no backup named');
  });
});

describe('jobOptions', () => {
  test('the retention job of a verified backup is deduplicated per target, keeping the last while one runs', () => {
    const options = jobOptions(JOBS.retentionOnVerified, { v: 1, targetId: 'orders-db' }, {});
    assert.deepEqual(options.deduplication, { id: 'retention-verified-orders-db', keepLastIfActive: true });
    assert.match(options.jobId ?? '', /^retention-verified-orders-db-\d+$/);
    assert.equal(options.attempts, 3);
    assert.deepEqual(options.backoff, { type: 'exponential', delay: 5000 });
    for (const spec of Object.values(JOBS).filter((s) => s !== JOBS.retentionOnVerified))
      assert.equal('deduplicationId' in spec, false, `${spec.queue}/${spec.name} is not deduplicated`);
  });
});

describe('parseJob', () => {
  const good = { v: 1, backupId: '20260101T000000Z-abcdef', targetId: 'a', restoreTest: true };

  test('accepts a valid payload', () => {
    assert.deepEqual(parseJob(JOBS.verify, good), good);
  });

  const cases: [string, unknown, RegExp][] = [
    ['oversized', { ...good, pad: 'x'.repeat(5000) }, /payload is \d+ bytes, more than 4096/],
    ['wrong version', { ...good, v: 2 }, /version 2 is not supported \(this service reads v1\)/],
    ['no version', { backupId: good.backupId }, /version missing is not supported/],
    ['unknown key', { ...good, extra: 1 }, /invalid verify\/verify job: .*extra/],
    ['bad field', { ...good, backupId: 'x' }, /invalid verify\/verify job: backupId: /],
    ['not an object', 'hello', /invalid verify\/verify job: /],
    ['unserialisable', { v: 1, n: 10n }, /payload is Infinity bytes/],
  ];
  for (const [name, data, reason] of cases) {
    test(`refuses ${name} as an invalid job (permanent)`, () => {
      assert.throws(
        () => parseJob(JOBS.verify, data),
        (error: unknown) =>
          error instanceof InvalidJobError &&
          error instanceof UnrecoverableError &&
          reason.test(error.message),
      );
    });
  }

  test('bounds part numbers', () => {
    const part = { v: 1, backupId: good.backupId, targetId: 'a', part: 100_001, dumpAttempt: 1 };
    assert.throws(() => parseJob(JOBS.uploadPart, part), /part: /);
  });
});
