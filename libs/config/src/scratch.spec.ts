import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, validateConfig } from '@tidemark/policy';
import { sourceKinds } from '@tidemark/source-kinds';
import { resolveScratch, scratchEnvIssues, scratchLabel } from './scratch';
import { assertServiceEnv } from './service-needs';

const config = validateConfig(
  {
    policies: {
      scratched: {
        schedule: '0 2 * * *',
        verify: { scratch: { url: '${SCRATCH_PG_URL}', path: '/scratch' } },
      },
      plain: { schedule: '0 2 * * *' },
    },
    targets: [
      { id: 'orders', kind: 'postgres', url: '${ORDERS_URL}', policy: 'scratched' },
      { id: 'files', kind: 'directory', url: '/data/files', policy: 'scratched' },
      { id: 'other', kind: 'postgres', url: '${ORDERS_URL}', policy: 'plain' },
    ],
  },
  undefined,
  { kinds: sourceKinds() },
);
const env = {
  ORDERS_URL: 'postgres://u:secret@db/orders',
  SCRATCH_PG_URL: 'postgres://s:pw@scratch:5433/postgres',
};

describe('a policy’s scratch, resolved for each target', () => {
  test('a server target gets the scratch server, a file target the scratch directory, others none', () => {
    assert.deepEqual(resolveScratch(config, 'orders', env), {
      kind: 'postgres',
      url: 'postgres://s:pw@scratch:5433/postgres',
    });
    assert.deepEqual(resolveScratch(config, 'files', env), { kind: 'directory', path: '/scratch' });
    assert.equal(resolveScratch(config, 'other', env), null);
  });

  test('the verifier refuses to start without the scratch variable, naming its path but never its value', () => {
    assert.deepEqual(scratchEnvIssues(config, env), []);
    assert.doesNotThrow(() => {
      assertServiceEnv(config, 'verifier', env);
    });
    const unset = { ORDERS_URL: env.ORDERS_URL };
    assert.throws(
      () => {
        assertServiceEnv(config, 'verifier', unset);
      },
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message ===
          'policies.scratched.verify.scratch.url: environment variable SCRATCH_PG_URL is not set',
    );
    // The uploader never makes scratch copies, so it does not need the variable.
    assert.doesNotThrow(() => {
      assertServiceEnv(config, 'uploader', unset);
    });
    const bad = scratchEnvIssues(config, {
      ...env,
      SCRATCH_PG_URL: 'postgres://s:hunter22@scratch/x?bogus=1',
    });
    assert.deepEqual(
      bad.map((issue) => issue.path),
      ['policies.scratched.verify.scratch.url'],
    );
    assert.doesNotMatch(JSON.stringify(bad), /hunter22/);
  });

  test('tidemark targets shows where restore tests run, never a resolved url', () => {
    assert.equal(scratchLabel(config, 'orders', env), 'server ${SCRATCH_PG_URL}');
    assert.equal(scratchLabel(config, 'orders', {}), 'server ${SCRATCH_PG_URL}', 'without the secrets too');
    assert.equal(scratchLabel(config, 'files', env), 'directory /scratch');
    assert.equal(scratchLabel(config, 'other', env), 'source (no scratch)');
  });
});
