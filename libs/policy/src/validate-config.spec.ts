import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ConfigError } from './config-error';
import { validateConfig } from './validate-config';

// The file format itself, with made-up kinds: the real ones (and most of the format's tests) are in libs/config,
// which passes the registry's descriptors.
const KINDS = [
  { name: 'alpha', settings: z.object({ level: z.number().int().min(2).optional() }), chains: false },
  { name: 'beta', settings: z.object({}), chains: true },
];

function config(target: Record<string, unknown>): Record<string, unknown> {
  return {
    policies: { standard: { schedule: '0 2 * * *' } },
    targets: [{ id: 't', kind: 'alpha', url: '/x', policy: 'standard', ...target }],
  };
}

function problems(raw: unknown, kinds = KINDS): string[] {
  try {
    validateConfig(raw, undefined, { kinds });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('validateConfig with the kinds it is given', () => {
  test('a kind outside them lists the allowed kinds', () => {
    assert.deepEqual(problems(config({ kind: 'gamma' })), ['targets[0].kind: must be one of alpha, beta']);
  });

  test("a kind's settings are checked with its schema and refused on other kinds", () => {
    assert.equal(validateConfig(config({ level: 3 }), undefined, { kinds: KINDS }).targets[0]?.['level'], 3);
    assert.deepEqual(problems(config({ level: 1 })), ['targets[0].level: must be at least 2']);
    assert.deepEqual(problems(config({ kind: 'beta', level: 3 })), [
      'targets[0].level: only applies to kind alpha, not beta',
    ]);
  });

  test('incremental applies to the kinds whose backups chain', () => {
    assert.deepEqual(problems(config({ incremental: { fullEvery: 7 } })), [
      'targets[0].incremental: only applies to kind beta, not alpha',
    ]);
    const chained = validateConfig(config({ kind: 'beta', incremental: { fullEvery: 7 } }), undefined, {
      kinds: KINDS,
    });
    assert.equal(chained.targets[0]?.incremental?.fullEvery, 7);
  });

  test("a kind's refine hook reports cross-field problems at the key it names, only for its own targets", () => {
    const refining = [
      {
        ...KINDS[0]!,
        refine: (target: Readonly<Record<string, unknown>>) =>
          target['level'] === 5 ? [{ path: 'level', message: 'five is taken' }] : [],
      },
      KINDS[1]!,
    ];
    assert.deepEqual(problems(config({ level: 5 }), refining), ['targets[0].level: five is taken']);
    assert.equal(
      validateConfig(config({ level: 4 }), undefined, { kinds: refining }).targets[0]?.['level'],
      4,
    );
  });

  test('without kinds any kind is taken, and a key no kind declared is unknown', () => {
    assert.equal(validateConfig(config({ kind: 'anything' })).targets[0]?.kind, 'anything');
    assert.deepEqual(problems(config({ level: 3 }), []), ['targets[0]: unknown key "level"']);
  });
});
