import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error';
import { envRefs, malformedEnvRefs, resolveEnvRefs } from './env-refs';

describe('envRefs', () => {
  test('lists each referenced name once, in order', () => {
    assert.deepEqual(envRefs('postgres://${DB_USER}:${DB_PASSWORD}@${DB_HOST}/${DB_USER}'), [
      'DB_USER',
      'DB_PASSWORD',
      'DB_HOST',
    ]);
    assert.deepEqual(envRefs('${ORDERS_DB_URL}'), ['ORDERS_DB_URL']);
    assert.deepEqual(envRefs('${_X1}'), ['_X1']);
  });

  test('ignores text that is not a well-formed reference', () => {
    assert.deepEqual(envRefs('postgres://localhost/orders'), []);
    assert.deepEqual(envRefs('$ORDERS ${lower} ${1ABC} ${UNCLOSED'), []);
  });
});

describe('malformedEnvRefs', () => {
  test('finds lowercase, leading digits and unclosed references but not good ones', () => {
    assert.deepEqual(malformedEnvRefs('${GOOD} ${lower} ${1ABC} ${UNCLOSED'), [
      '${lower}',
      '${1ABC}',
      '${UNCLOSED',
    ]);
    assert.deepEqual(malformedEnvRefs('postgres://${USER}@host/$db'), []);
  });
});

describe('resolveEnvRefs', () => {
  test('replaces every reference, including repeated ones', () => {
    const env = { USER: 'app', PASSWORD: 'p@ss', HOST: 'db' };
    assert.equal(
      resolveEnvRefs('postgres://${USER}:${PASSWORD}@${HOST}/${USER}', env, 'targets[0].url'),
      'postgres://app:p@ss@db/app',
    );
  });

  test('does not re-expand references found inside values', () => {
    assert.equal(resolveEnvRefs('${A}', { A: '${B}', B: 'no' }, 'x'), '${B}');
  });

  test('leaves a template without references unchanged', () => {
    assert.equal(
      resolveEnvRefs('postgres://localhost/orders', {}, 'targets[0].url'),
      'postgres://localhost/orders',
    );
  });

  test('a missing variable is a ConfigError naming the path', () => {
    assert.throws(
      () => resolveEnvRefs('${ORDERS_DB_URL}', {}, 'targets[0].url'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === 'targets[0].url: environment variable ORDERS_DB_URL is not set',
    );
  });

  test('an empty variable counts as not set', () => {
    assert.throws(() => resolveEnvRefs('${ORDERS_DB_URL}', { ORDERS_DB_URL: '' }, 'targets[0].url'), {
      message: 'targets[0].url: environment variable ORDERS_DB_URL is not set',
    });
  });

  test('every missing variable is named, one per line', () => {
    assert.throws(() => resolveEnvRefs('${A}${B}${C}', { B: 'b' }, 'targets[1].url'), {
      message:
        'targets[1].url: environment variable A is not set\ntargets[1].url: environment variable C is not set',
    });
  });
});
