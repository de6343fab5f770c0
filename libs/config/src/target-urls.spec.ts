import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { literalUrlProblem, resolvedUrlProblem } from './target-urls';

describe('literalUrlProblem: each kind accepts what its source accepts', () => {
  const accepted: [string, string][] = [
    ['postgres', 'postgres://app@db:5432/orders'],
    ['postgres', 'postgresql://app:pw@db/orders?sslmode=require'],
    ['postgres', 'postgres://app@/orders?host=/var/run/postgresql'],
    ['mysql', 'mysql://root@db:3306/shop'],
    ['mysql', 'mariadb://root:pw@db/shop'],
    ['sqlite', '/var/lib/app/app.db'],
    ['sqlite', 'data/app.db'],
    ['sqlite', 'sqlite:///var/lib/app/app.db'],
    ['directory', '/srv/files'],
    ['directory', 'file:///srv/files'],
    ['azure-blob', 'https://acct.blob.core.windows.net/media'],
    ['azure-blob', 'http://127.0.0.1:10000/devstoreaccount1/media'],
    ['azure-blob', 'UseDevelopmentStorage=true;Container=media'],
  ];
  for (const [kind, url] of accepted) {
    test(`${kind}: ${url}`, () => {
      assert.equal(literalUrlProblem(kind, url), undefined);
    });
  }

  const refused: [string, string, string][] = [
    [
      'postgres',
      'ht!tp:/bad url',
      'invalid PostgreSQL URL "ht!tp:/bad url": it must start with postgres:// or postgresql://',
    ],
    [
      'postgres',
      'postgres://app:secret@db',
      'invalid PostgreSQL URL "postgres://app:***@db": it names no database',
    ],
    ['postgres', 'postgres:///orders', 'invalid PostgreSQL URL "postgres:///orders": it names no host'],
    [
      'mysql',
      'mysql://root@db',
      'invalid MySQL URL "mysql://root@db": it names no database (mysql://user:password@host:port/database)',
    ],
    [
      'sqlite',
      'sqlite://data/app.db',
      'invalid SQLite location "sqlite://data/app.db": the path must be absolute (three slashes: sqlite:///path/to/file.db)',
    ],
    [
      'directory',
      'https://files/x',
      'invalid directory URL "https://files/x": use a path or file:///absolute/dir',
    ],
    ['azure-blob', 'ht!tp:/bad url', 'the azure-blob URL is neither a container URL nor a connection string'],
    [
      'azure-blob',
      'AccountName=acct;AccountKey=a2V5',
      'the azure-blob connection string has no Container=<name> key',
    ],
  ];
  for (const [kind, url, message] of refused) {
    test(`${kind} refuses ${url}`, () => {
      assert.equal(literalUrlProblem(kind, url), message);
    });
  }
});

describe('resolvedUrlProblem never repeats the value', () => {
  test('a whole-url variable is named, with what is wrong', () => {
    assert.equal(
      resolvedUrlProblem('postgres', '${ORDERS_DB_URL}', 'postgres://app:pw@/orders'),
      'environment variable ORDERS_DB_URL is not a valid PostgreSQL URL: it names no host',
    );
    assert.equal(
      resolvedUrlProblem('postgres', '${ORDERS_DB_URL}', 'postgres://app:pw@db/orders'),
      undefined,
    );
  });

  test('a password with an unescaped "?" does not come back as a quoted parameter name', () => {
    const message = resolvedUrlProblem('mysql', '${MY_URL}', 'mysql://root:p@ss?w0rd@db/shop');
    assert.equal(
      message,
      'environment variable MY_URL is not a valid MySQL URL: unsupported parameter (none are supported)',
    );
  });

  test('a value the parsers quote in unknown ways gets the plain verdict', () => {
    assert.equal(
      resolvedUrlProblem('azure-blob', '${BLOB}', 'https://acct.blob.core.windows.net/%E0%A4%A'),
      'environment variable BLOB is not a valid azure-blob container URL or connection string',
    );
  });

  const kinds = fc.constantFrom<string>('postgres', 'mysql', 'sqlite', 'directory', 'azure-blob');
  // A secret that no fixed text of any message contains, among characters people paste into urls.
  const secret = fc
    .string({ unit: fc.constantFrom(...'abcXYZ019?#@/:%&=+;" .'.split('')), minLength: 4, maxLength: 16 })
    .map((tail) => `Qz${tail}`);
  const shapes = fc.constantFrom(
    (s: string) => `postgres://app:${s}@db/orders`,
    (s: string) => `postgres://app:${s}@/orders`,
    (s: string) => `mysql://root:${s}@db`,
    (s: string) => `ht!tp://u:${s}@x`,
    (s: string) => `https://acct.blob.core.windows.net/media?sig=${s}`,
    (s: string) => `https://acct.blob.core.windows.net/${s}`,
    (s: string) => `AccountName=acct;AccountKey=${s}`,
    (s: string) => `sqlite://${s}`,
    (s: string) => `file://${s}`,
    (s: string) => s,
  );

  test('property: neither the value nor its secret part appears in any message, and nothing is quoted but fixed text', () => {
    fc.assert(
      fc.property(kinds, secret, shapes, (kind, s, shape) => {
        const value = shape(s);
        const message = resolvedUrlProblem(kind, '${URL}', value) ?? '';
        assert.ok(!message.includes(value), message);
        assert.ok(!message.includes(s), message);
        for (const [, quoted] of message.matchAll(/"([^"]*)"/g))
          assert.ok(['/', 'localhost'].includes(quoted ?? ''), message);
      }),
      { numRuns: 2000 },
    );
  });
});
