import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { SourceError } from '@tidemark/source-contract';
import { connectError, parseMysqlUrl } from './connection';
import { parseToolVersion } from './tools';

function invalidUrl(message: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SourceError);
    assert.equal(err.code, 'invalid-url');
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  };
}

describe('parseMysqlUrl', () => {
  test('reads every part and %-decodes user, password and database', () => {
    assert.deepEqual(parseMysqlUrl('mysql://app%40eu:s3cret%3A%2F%40%25x@db.example.com:3307/shop%20eu'), {
      product: 'MySQL',
      host: 'db.example.com',
      port: 3307,
      user: 'app@eu',
      password: 's3cret:/@%x',
      database: 'shop eu',
    });
  });

  test('mariadb:// works too; port, password and user have defaults; IPv6 hosts lose their brackets', () => {
    assert.deepEqual(parseMysqlUrl('mariadb://[::1]/db'), {
      product: 'MariaDB',
      host: '::1',
      port: 3306,
      user: userInfo().username,
      password: '',
      database: 'db',
    });
  });

  test('refuses what it cannot honour, without showing the password', () => {
    assert.throws(() => parseMysqlUrl('mysql://root:s3cret@127.0.0.1:3306'), invalidUrl(/names no database/));
    assert.throws(
      () => parseMysqlUrl('mysql://root:s3cret@127.0.0.1:3306/'),
      invalidUrl(/names no database/),
    );
    assert.throws(
      () => parseMysqlUrl('postgres://root:s3cret@127.0.0.1/db'),
      invalidUrl(
        /^invalid MySQL URL "postgres:\/\/root:\*\*\*@127\.0\.0\.1\/db": it must start with mysql:\/\//,
      ),
    );
    assert.throws(
      () => parseMysqlUrl('mysql://root:s3cret@127.0.0.1:notaport/db'),
      invalidUrl(/cannot be parsed/),
    );
    assert.throws(
      () => parseMysqlUrl('mysql://root:s3cret@127.0.0.1/db?ssl=1'),
      invalidUrl(/unsupported parameter "ssl"/),
    );
    assert.throws(
      () => parseMysqlUrl('mysql://root:s3cret%zz@127.0.0.1/db'),
      invalidUrl(/password has a bad %-escape/),
    );
    assert.throws(() => parseMysqlUrl('mysql://root@127.0.0.1/a%2Fb'), invalidUrl(/cannot contain "\/"/));
  });
});

describe('connectError', () => {
  const target = parseMysqlUrl('mysql://app:s3cret@db:3306/shop');

  test('maps server and network errors to codes', () => {
    const error = (fields: Record<string, unknown>): Error =>
      Object.assign(new Error(String(fields['message'])), fields);
    const auth = connectError(
      error({
        errno: 1045,
        code: 'ER_ACCESS_DENIED_ERROR',
        message: "Access denied for user 'app' (s3cret)",
      }),
      target,
      'shop',
    );
    assert.equal(auth.code, 'source-auth');
    assert.equal(auth.message, 'MySQL at db:3306 refused user "app": Access denied for user \'app\' (***)');
    const missing = connectError(
      error({ errno: 1049, code: 'ER_BAD_DB_ERROR', message: 'x' }),
      target,
      'shop',
    );
    assert.equal(missing.code, 'source-missing-database');
    assert.equal(missing.message, 'database "shop" does not exist on db:3306');
    for (const code of ['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND']) {
      const failure = connectError(error({ code, errno: -1, message: 'x' }), target, 'shop');
      assert.equal(failure.code, 'source-unreachable', code);
      assert.match(failure.message, /^cannot reach MySQL at db:3306: /);
    }
  });
});

describe('parseToolVersion', () => {
  test('MariaDB tools report their Distrib, MySQL tools their Ver', () => {
    assert.equal(
      parseToolVersion('mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)'),
      '10.11.19',
    );
    assert.equal(
      parseToolVersion('mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)'),
      '8.0.36',
    );
    assert.equal(parseToolVersion('mysql  Ver 8.4.0 for Linux on x86_64'), '8.4.0');
    assert.equal(parseToolVersion('nothing here'), undefined);
  });
});
