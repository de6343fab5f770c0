import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { listPostgresDatabases, withDatabase } from './databases';
import {
  createDatabase,
  dropDatabases,
  SERVER,
  sourceError,
  suffix,
  withClient,
} from '@tidemark/testing-sources';

describe('withDatabase', () => {
  test('replaces only the database', () => {
    assert.equal(
      withDatabase('postgres://u:p%40ss@db.example.com:6543/orders?sslmode=require', 'billing'),
      'postgres://u:p%40ss@db.example.com:6543/billing?sslmode=require',
    );
    assert.equal(withDatabase('postgresql://u@h', 'a b/c'), 'postgresql://u@h/a%20b%2Fc');
    assert.equal(withDatabase('postgres://h:5432/', 'x'), 'postgres://h:5432/x');
    assert.equal(
      withDatabase('postgres://u@/db?host=/var/run/postgresql', 'other'),
      'postgres://u@/other?host=/var/run/postgresql',
    );
  });

  test('refuses what is not a URL, without the password', () => {
    assert.throws(() => withDatabase('u:s3cret@host/db', 'x'), sourceError('invalid-url'));
  });
});

describe('listPostgresDatabases', () => {
  const tag = suffix();
  const open = [`tm_ldb_b_${tag}`, `tm_ldb_A_${tag}`];
  const closed = `tm_ldb_closed_${tag}`;

  before(async () => {
    for (const name of [...open, closed]) await createDatabase(name);
    await withClient('postgres', (c) => c.query(`ALTER DATABASE "${closed}" ALLOW_CONNECTIONS false`));
  });

  after(async () => {
    await withClient('postgres', (c) => c.query(`ALTER DATABASE "${closed}" ALLOW_CONNECTIONS true`));
    await dropDatabases([...open, closed]);
  });

  test('lists connectable non-template databases in byte order, from a server URL or a database URL', async () => {
    const names = await listPostgresDatabases(SERVER);
    assert.ok(names.includes('postgres'));
    assert.ok(!names.includes('template0') && !names.includes('template1'));
    assert.ok(!names.includes(closed), 'a database that refuses connections is left out');
    const ours = names.filter((n) => n.endsWith(tag));
    assert.deepEqual(ours, [`tm_ldb_A_${tag}`, `tm_ldb_b_${tag}`]);
    assert.deepEqual(
      [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
      names,
    );
    assert.deepEqual(await listPostgresDatabases(`${SERVER}/${open[0] ?? ''}`), names);
  });

  test('an unreachable server is source-unreachable', async () => {
    await assert.rejects(
      listPostgresDatabases('postgres://postgres:s3cret@127.0.0.1:5999'),
      sourceError('source-unreachable', 'cannot reach PostgreSQL at 127.0.0.1:5999: connection refused'),
    );
  });
});
