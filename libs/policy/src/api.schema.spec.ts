import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from './config-error';
import { validateConfig } from './validate-config';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const HASH = 'a'.repeat(64);

function withApi(api: unknown): Record<string, unknown> {
  return {
    policies: { standard: { schedule: '0 2 * * *' } },
    targets: [{ id: 't', kind: 'alpha', url: '/x', policy: 'standard' }],
    api,
  };
}

function problems(api: unknown): string[] {
  try {
    validateConfig(withApi(api));
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('the api block', () => {
  test('left out: no auth and an open /metrics', () => {
    assert.deepEqual(validateConfig(withApi(undefined)).api, { metrics: 'open' });
    assert.deepEqual(validateConfig(withApi(null)).api, { metrics: 'open' });
  });

  test('entra and api keys are read with their defaults', () => {
    const api = validateConfig(
      withApi({
        auth: {
          entra: { tenantId: TENANT, audience: 'api://tidemark' },
          apiKeys: [{ name: 'ci', sha256: HASH }],
        },
        metrics: 'token',
      }),
    ).api;
    assert.deepEqual(api, {
      auth: {
        entra: { tenantId: TENANT, audience: 'api://tidemark', role: 'Tidemark.Operator' },
        apiKeys: [{ name: 'ci', sha256: HASH }],
      },
      metrics: 'token',
    });
  });

  test('auth: none is an explicit opt-out', () => {
    assert.equal(validateConfig(withApi({ auth: 'none' })).api.auth, 'none');
    assert.deepEqual(problems({ auth: 'off' }), [
      'api.auth: must be none or a mapping with entra and/or apiKeys',
    ]);
    assert.deepEqual(problems({ auth: { none: true, apiKeys: [{ name: 'ci', sha256: HASH }] } }), [
      'api.auth: none takes no entra or apiKeys beside it',
    ]);
  });

  test('an auth block naming no way in is refused', () => {
    assert.deepEqual(problems({ auth: { apiKeys: [] } }), [
      'api.auth: needs entra or at least one of apiKeys (or write `auth: none` to accept every caller)',
    ]);
  });

  test('an api key is only ever its sha256 hash', () => {
    assert.deepEqual(problems({ auth: { apiKeys: [{ name: 'ci', sha256: 'my-secret-key' }] } }), [
      'api.auth.apiKeys[0].sha256: must be the hex sha256 of the key (64 lowercase hex digits; `tidemark api-key hash` prints it)',
    ]);
    assert.deepEqual(problems({ auth: { apiKeys: [{ name: 'ci', key: 'my-secret-key', sha256: HASH }] } }), [
      'api.auth.apiKeys[0]: unknown key "key"',
    ]);
  });

  test('key names are unique and so are the keys', () => {
    assert.deepEqual(
      problems({
        auth: {
          apiKeys: [
            { name: 'ci', sha256: HASH },
            { name: 'Bad Name', sha256: 'c'.repeat(64) },
          ],
        },
      }),
      [
        'api.auth.apiKeys[1].name: "Bad Name" is not a key name (1-63 lowercase letters, digits, ".", "_" and "-")',
      ],
    );
    assert.deepEqual(
      problems({
        auth: {
          apiKeys: [
            { name: 'ci', sha256: HASH },
            { name: 'ci', sha256: 'b'.repeat(64) },
            { name: 'ops', sha256: HASH },
          ],
        },
      }),
      [
        'api.auth.apiKeys[1].name: duplicate key name "ci" (also apiKeys[0])',
        'api.auth.apiKeys[2].sha256: the same key as apiKeys[0]: each caller needs a key of its own',
      ],
    );
  });

  test('entra needs a tenant GUID, an audience, and key servers reached over https', () => {
    assert.deepEqual(problems({ auth: { entra: { tenantId: 'contoso.com' } } }), [
      'api.auth.entra.tenantId: "contoso.com" is not a tenant id (the directory\'s GUID, e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47)',
      'api.auth.entra.audience: required',
    ]);
    assert.deepEqual(
      problems({
        auth: { entra: { tenantId: TENANT, audience: 'a', jwksUri: 'http://keys.example.com/k' } },
      }),
      [
        'api.auth.entra.jwksUri: must be an https URL (http only on a loopback host), not http://keys.example.com/k',
      ],
    );
    const local = validateConfig(
      withApi({
        auth: {
          entra: {
            tenantId: TENANT,
            audience: 'a',
            issuer: 'http://127.0.0.1:1/',
            jwksUri: 'http://127.0.0.1:1/k',
          },
        },
      }),
    ).api.auth;
    assert.ok(local !== undefined && local !== 'none');
    assert.equal(local.entra?.jwksUri, 'http://127.0.0.1:1/k');
  });

  test('a token-protected /metrics needs something to check tokens against', () => {
    assert.deepEqual(problems({ metrics: 'token' }), [
      'api.metrics: token needs api.auth with entra or apiKeys to check the token against',
    ]);
    assert.deepEqual(problems({ auth: 'none', metrics: 'token' }), [
      'api.metrics: token needs api.auth with entra or apiKeys to check the token against',
    ]);
    assert.deepEqual(problems({ metrics: 'private' }), ['api.metrics: must be one of open, token']);
  });
});
