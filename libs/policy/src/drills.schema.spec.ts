import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from './config-error';
import { durationMs } from './duration';
import { validateConfig } from './validate-config';

function config(policy: Record<string, unknown>): Record<string, unknown> {
  return {
    policies: { standard: { schedule: '0 2 * * *', ...policy } },
    targets: [{ id: 't', kind: 'alpha', url: '/x', policy: 'standard' }],
  };
}

function problems(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('verify.scratch and drills in a policy', () => {
  test('a scratch url is a ${VAR} reference, a path any directory; one of them is needed', () => {
    const parsed = validateConfig(config({ verify: { scratch: { url: '${SCRATCH_PG_URL}', path: '/s' } } }));
    assert.deepEqual(parsed.policies['standard']?.verify.scratch, { url: '${SCRATCH_PG_URL}', path: '/s' });
    assert.deepEqual(problems(config({ verify: { scratch: { url: 'postgres://u:pw@h/db' } } })), [
      'policies.standard.verify.scratch.url: must be a ${NAME} reference (the scratch server’s credentials stay in the environment)',
    ]);
    assert.deepEqual(problems(config({ verify: { scratch: {} } })), [
      'policies.standard.verify.scratch: needs url (a scratch server) or path (a scratch directory)',
    ]);
  });

  test('drills take their defaults; a bad cron, pick or assertion names its path', () => {
    const parsed = validateConfig(config({ drills: { schedule: '0 4 1 * *' } }));
    assert.deepEqual(parsed.policies['standard']?.drills, {
      schedule: '0 4 1 * *',
      pick: ['newest'],
      rtoMinutes: 60,
      assertions: [],
    });
    assert.deepEqual(problems(config({ drills: { schedule: '0 4 1 *' } })), [
      'policies.standard.drills.schedule: "0 4 1 *" is not a valid cron expression (expected 5 fields, got 4)',
    ]);
    assert.match(
      problems(config({ drills: { schedule: '* * * * *', pick: ['latest'] } }))[0] ?? '',
      /^policies\.standard\.drills\.pick\[0\]: must be one of newest, oldest, random$/,
    );
    assert.deepEqual(problems(config({ drills: { schedule: '* * * * *', pick: ['oldest', 'oldest'] } })), [
      'policies.standard.drills.pick: lists a pick twice',
    ]);
    assert.deepEqual(
      problems(
        config({
          drills: {
            schedule: '* * * * *',
            assertions: [{ sql: 'select 1', expect: { within: '1 day', of: 'backup' } }],
          },
        }),
      ),
      [
        'policies.standard.drills.assertions[0].expect.within: "1 day" is not a duration (write e.g. 30m, 4h, 1d or 1d12h: days d, hours h, minutes m, seconds s)',
      ],
    );
    assert.deepEqual(problems(config({ drills: { schedule: '* * * * *', rtoMinutes: 0 } })), [
      'policies.standard.drills.rtoMinutes: must be greater than 0',
    ]);
  });

  test('durations are minutes, hours or days', () => {
    assert.equal(durationMs('26h'), 26 * 3_600_000);
    assert.equal(durationMs('30m'), 1_800_000);
    assert.equal(durationMs('2d'), 172_800_000);
    assert.equal(durationMs('2w'), undefined);
  });
});
