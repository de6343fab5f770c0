import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { maskUrl, SourceError } from '@tidemark/source-contract';
import { parsePostgresUrl, toolEnv } from './connection';

const invalidUrl = (err: unknown): boolean => {
  assert.ok(err instanceof SourceError);
  assert.equal(err.code, 'invalid-url');
  assert.doesNotMatch(err.message, /s3cret/);
  return true;
};

describe('parsePostgresUrl', () => {
  test('reads every part, decoding escapes', () => {
    const target = parsePostgresUrl(
      'postgresql://app%40corp:p%40ss%2Fw@db.example.com:6543/or%20ders?sslmode=require',
      {},
    );
    assert.deepEqual(target, {
      host: 'db.example.com',
      port: 6543,
      user: 'app@corp',
      password: 'p@ss/w',
      database: 'or ders',
      sslMode: 'require',
    });
  });

  test('defaults the port, takes the password from PGPASSWORD, accepts a socket directory and IPv6', () => {
    assert.deepEqual(parsePostgresUrl('postgres://u@[::1]/db', { PGPASSWORD: 'envpw' }), {
      host: '::1',
      port: 5432,
      user: 'u',
      password: 'envpw',
      database: 'db',
    });
    assert.equal(
      parsePostgresUrl('postgres://u@/db?host=/var/run/postgresql', {}).host,
      '/var/run/postgresql',
    );
  });

  test('refuses bad URLs without echoing the password', () => {
    assert.throws(() => parsePostgresUrl('mysql://u:s3cret@h/db', {}), invalidUrl);
    assert.throws(() => parsePostgresUrl('postgres://u:s3cret@h:99999/db', {}), invalidUrl);
    assert.throws(() => parsePostgresUrl('postgres://u:s3cret@h:5432/', {}), invalidUrl);
    assert.throws(() => parsePostgresUrl('postgres://u:s3cret@h/db?sslmode=maybe', {}), invalidUrl);
    assert.throws(
      () => parsePostgresUrl('postgres://u:s3cret@h/db?options=-cwork_mem%3D1GB', {}),
      invalidUrl,
    );
  });

  test('names the problem', () => {
    assert.throws(
      () => parsePostgresUrl('postgres://u:s3cret@h/db?sslmode=maybe', {}),
      new SourceError(
        'invalid-url',
        'invalid PostgreSQL URL "postgres://u:***@h/db?sslmode=maybe": sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full',
      ),
    );
  });
});

describe('secrets', () => {
  test('maskUrl hides everything up to the last @, even an unescaped @ in the password', () => {
    assert.equal(maskUrl('postgres://u:p@ss@h/db'), 'postgres://u:***@h/db');
    assert.equal(maskUrl('postgres://u@h/db'), 'postgres://u@h/db');
  });

  test('toolEnv carries the connection and drops ambient PG* settings', () => {
    const target = parsePostgresUrl('postgres://u:pw@h:5433/db?sslmode=verify-full', {});
    const env = toolEnv(target, 'scratch', {
      PATH: '/bin',
      PGSERVICE: 'other',
      PGOPTIONS: '-c x=1',
      PGHOST: 'elsewhere',
    });
    assert.deepEqual(env, {
      PATH: '/bin',
      PGHOST: 'h',
      PGPORT: '5433',
      PGUSER: 'u',
      PGPASSWORD: 'pw',
      PGDATABASE: 'scratch',
      PGAPPNAME: 'tidemark',
      PGCONNECT_TIMEOUT: '5',
      PGSSLMODE: 'verify-full',
    });
    assert.deepEqual(toolEnv(target, undefined, { PATH: '/bin', PGPASSWORD: 'x' }), { PATH: '/bin' });
  });
});
