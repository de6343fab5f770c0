import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { errorData, redact } from './redact';

describe('redact', () => {
  const cases: [string, string][] = [
    ['postgres://u:pass@h', 'postgres://u:***@h'],
    [
      'connect to postgresql://app:s3cr%40t@db.internal:5432/orders?sslmode=require',
      'connect to postgresql://app:***@db.internal:5432/orders?sslmode=require',
    ],
    [
      'mysql://root:toor@127.0.0.1/db and redis://:redispw@cache:6379',
      'mysql://root:***@127.0.0.1/db and redis://:***@cache:6379',
    ],
    ['host=db user=app password=hunter2 dbname=orders', 'host=db user=app password=*** dbname=orders'],
    ['Server=db;User Id=sa;Password=Pa55w0rd!;Database=x', 'Server=db;User Id=sa;Password=***;Database=x'],
    [
      'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc+/def==;EndpointSuffix=core.windows.net',
      'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;EndpointSuffix=core.windows.net',
    ],
    [
      'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=xyz123=',
      'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=***',
    ],
    [
      'PUT https://acct.blob.core.windows.net/c/b?sv=2024-08-04&se=2026-01-01&sp=rw&sig=AbC%2Bd%3D&sr=b failed',
      'PUT https://acct.blob.core.windows.net/c/b?sv=2024-08-04&se=2026-01-01&sp=rw&sig=***&sr=b failed',
    ],
    ['env PGPASSWORD=hunter2 pg_dump -h db', 'env PGPASSWORD=*** pg_dump -h db'],
    ['{"password":"hunter2","user":"app"}', '{"password":"***","user":"app"}'],
    ['nothing secret here: /var/lib/backups/orders-db', 'nothing secret here: /var/lib/backups/orders-db'],
    ['https://example.com/path?x=1', 'https://example.com/path?x=1'],
  ];
  for (const [input, expected] of cases) {
    test(input, () => {
      assert.equal(redact(input), expected);
    });
  }

  test('no secret survives', () => {
    for (const [input] of cases) {
      const out = redact(input);
      for (const secret of [
        'hunter2',
        'pass@',
        'toor',
        'redispw',
        'Pa55w0rd',
        'abc+/def',
        'xyz123',
        'AbC%2Bd',
        's3cr%40t',
      ]) {
        assert.ok(!out.includes(secret), `${secret} in ${out}`);
      }
    }
  });
});

describe('redact with the secrets a caller knows', () => {
  test('hides a password as written and %-encoded, however the url spells it', () => {
    assert.equal(redact('a p@ss/w b p%40ss%2Fw c', ['p@ss/w']), 'a *** b *** c');
    assert.equal(redact('a p@ss b p%40ss c', ['p@ss']), 'a *** b *** c');
  });

  test('no secret, or an empty one, leaves the text as it is', () => {
    assert.equal(redact('nothing to hide', [undefined]), 'nothing to hide');
    assert.equal(redact('nothing', ['']), 'nothing');
  });

  test('an account key or SAS token is hidden even where no rule would find it', () => {
    const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
    const out = redact(`signature did not match: ${key} (x=1)`, [key]);
    assert.ok(!out.includes(key), out);
    assert.equal(redact('AccountKey=abc;x=y'), 'AccountKey=***;x=y');
  });

  test('the secrets and the rules both apply', () => {
    assert.equal(
      redact('token hunter9 from mysql://root:toor@db/x', ['hunter9']),
      'token *** from mysql://root:***@db/x',
    );
  });
});

describe('errorData', () => {
  test('takes a string code and the redacted first line of the message', () => {
    const error = Object.assign(
      new Error('connect ECONNREFUSED postgres://app:hunter2@db:5432\n    at stack line'),
      {
        code: 'ECONNREFUSED',
      },
    );
    assert.deepEqual(errorData(error), {
      code: 'ECONNREFUSED',
      message: 'connect ECONNREFUSED postgres://app:***@db:5432',
    });
  });

  test("falls back to 'internal' when the code is missing or not a string", () => {
    assert.deepEqual(errorData(new Error('boom')), { code: 'internal', message: 'boom' });
    assert.deepEqual(errorData(Object.assign(new Error('x'), { code: 42 })), {
      code: 'internal',
      message: 'x',
    });
    assert.deepEqual(errorData('password=hunter2 rejected'), {
      code: 'internal',
      message: 'password=*** rejected',
    });
    assert.deepEqual(errorData({ code: 'E_PLAIN', message: 'plain object' }), {
      code: 'E_PLAIN',
      message: 'plain object',
    });
    assert.equal(errorData(new Error('')).message, 'unknown error');
  });
});
