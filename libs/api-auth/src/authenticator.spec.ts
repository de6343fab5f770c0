import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ApiSettings } from '@tidemark/policy';
import { LocalEntraTenant } from '@tidemark/testing';
import { hashApiKey } from './api-keys';
import { AuthFailure } from './auth-failure';
import { ApiAuthenticator } from './authenticator';

const { TENANT, OTHER_TENANT, AUDIENCE } = LocalEntraTenant;
const KEY = 'tmk_ci_3b1f5e0c9d2a4f6e8b7c';

async function refusal(promise: Promise<unknown>): Promise<AuthFailure> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AuthFailure, String(error));
    return error;
  }
  assert.fail('expected an AuthFailure');
}

describe('ApiAuthenticator', () => {
  const tenant = new LocalEntraTenant();
  let api: ApiSettings;
  let auth: ApiAuthenticator;
  before(async () => {
    await tenant.start();
    api = {
      metrics: 'open',
      auth: {
        entra: { tenantId: TENANT, audience: AUDIENCE, role: 'Tidemark.Operator', jwksUri: tenant.jwksUri },
        apiKeys: [
          { name: 'ops', sha256: hashApiKey('another key') },
          { name: 'ci', sha256: hashApiKey(KEY) },
        ],
      },
    };
    auth = new ApiAuthenticator(api);
  });
  after(() => tenant.stop());

  test('an API key is accepted by its hash and named by its entry', async () => {
    assert.deepEqual(await auth.authenticate(`Bearer ${KEY}`), { kind: 'api-key', name: 'ci' });
    assert.deepEqual(await auth.authenticate(`bearer   ${KEY} `), { kind: 'api-key', name: 'ci' });
  });

  test('a wrong key is a 401 with an invalid_token challenge that does not echo it', async () => {
    const failure = await refusal(auth.authenticate(`Bearer ${KEY}x`));
    assert.equal(failure.status, 401);
    assert.match(failure.detail, /neither a valid API key nor a JWT/);
    assert.ok(!failure.detail.includes(KEY));
    assert.match(failure.challenge ?? '', /^Bearer realm="tidemark", error="invalid_token"/);
    assert.ok(!(failure.challenge ?? '').includes(KEY));
  });

  test('no header is a 401 with a bare challenge; another scheme is a 401 invalid_request', async () => {
    const missing = await refusal(auth.authenticate(undefined));
    assert.equal(missing.status, 401);
    assert.equal(missing.challenge, 'Bearer realm="tidemark"');
    assert.match(missing.detail, /needs an Authorization: Bearer <token> header/);
    const basic = await refusal(auth.authenticate('Basic dXNlcjpwYXNz'));
    assert.equal(basic.status, 401);
    assert.match(basic.challenge ?? '', /error="invalid_request"/);
  });

  test('a valid Entra token with the role names its subject and application', async () => {
    assert.deepEqual(await auth.authenticate(`Bearer ${await tenant.token()}`), {
      kind: 'entra',
      subject: 'sp-object-id-1',
      app: 'ci-app',
    });
  });

  test('an expired token is a 401', async () => {
    const expired = await tenant.token({}, { expires: Math.floor(Date.now() / 1000) - 3600 });
    const failure = await refusal(auth.authenticate(`Bearer ${expired}`));
    assert.equal(failure.status, 401);
    assert.equal(failure.detail, 'the token has expired');
  });

  test("another tenant's token is a 401, even signed with the same keys", async () => {
    const foreign = await tenant.token({}, { tenant: OTHER_TENANT });
    const failure = await refusal(auth.authenticate(`Bearer ${foreign}`));
    assert.equal(failure.status, 401);
    assert.equal(failure.detail, 'the token was not issued by the configured tenant');
  });

  test('a token with the right issuer but a foreign tid, or another audience, is a 401', async () => {
    const tid = await refusal(auth.authenticate(`Bearer ${await tenant.token({ tid: OTHER_TENANT })}`));
    assert.equal(tid.detail, 'the token belongs to another tenant');
    const aud = await refusal(
      auth.authenticate(`Bearer ${await tenant.token({}, { audience: 'api://other' })}`),
    );
    assert.equal(aud.status, 401);
    assert.equal(aud.detail, 'the token is meant for another audience');
  });

  test('a token signed with a key the tenant did not publish is a 401', async () => {
    const forged = await tenant.token({}, { stranger: true });
    const failure = await refusal(auth.authenticate(`Bearer ${forged}`));
    assert.equal(failure.status, 401);
    assert.match(failure.detail, /signature is not from the tenant's keys/);
  });

  test('a valid token without the role is a 403 insufficient_scope', async () => {
    for (const claims of [{ roles: ['Tidemark.Reader'] }, { roles: undefined }]) {
      const failure = await refusal(auth.authenticate(`Bearer ${await tenant.token(claims)}`));
      assert.equal(failure.status, 403);
      assert.equal(failure.detail, 'the token does not carry the app role Tidemark.Operator');
      assert.match(failure.challenge ?? '', /error="insufficient_scope"/);
    }
  });

  test('an unreachable key server is a 503, not a refusal of the caller', async () => {
    const offline = new ApiAuthenticator({
      metrics: 'open',
      auth: {
        entra: {
          tenantId: TENANT,
          audience: AUDIENCE,
          role: 'Tidemark.Operator',
          jwksUri: 'http://127.0.0.1:9/k',
        },
      },
    });
    const failure = await refusal(offline.authenticate(`Bearer ${await tenant.token()}`));
    assert.equal(failure.status, 503);
    assert.equal(failure.challenge, undefined);
  });

  test('without entra, only API keys are tried', async () => {
    const keysOnly = new ApiAuthenticator({
      metrics: 'open',
      auth: { apiKeys: [{ name: 'ci', sha256: hashApiKey(KEY) }] },
    });
    const failure = await refusal(keysOnly.authenticate(`Bearer ${await tenant.token()}`));
    assert.equal(failure.detail, 'the token is not a valid API key');
  });

  test('probes are open, /metrics as the setting says, everything else needs a token', () => {
    for (const path of ['/healthz', '/readyz', '/healthz/']) assert.ok(auth.isOpen(path), path);
    assert.ok(auth.isOpen('/metrics'));
    for (const path of ['/docs', '/docs-json', '/targets', '/targets/a/backups', '/', '/healthzx'])
      assert.ok(!auth.isOpen(path), path);
    assert.ok(!new ApiAuthenticator({ ...api, metrics: 'token' }).isOpen('/metrics'));
  });

  test('with no auth configured, or auth: none, every caller is anonymous', async () => {
    for (const settings of [{ metrics: 'open' }, { metrics: 'open', auth: 'none' }] as ApiSettings[]) {
      const open = new ApiAuthenticator(settings);
      assert.equal(open.enforcing, false);
      assert.deepEqual(await open.authenticate(undefined), { kind: 'anonymous' });
    }
    assert.equal(auth.enforcing, true);
  });
});
