import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RestError } from '@azure/storage-blob';
import { StorageError, toStorageError } from './storage-error';

const context = { endpoint: 'https://acct.blob.core.windows.net', action: 'commit a/b in c' };

function restError(
  statusCode: number,
  errorCode: string,
  message = `${errorCode} happened\nRequestId:1\nTime:now`,
) {
  const err = new RestError(message, { statusCode, code: errorCode });
  (err as { details?: unknown }).details = { errorCode };
  return err;
}

describe('toStorageError', () => {
  test('maps service answers to codes', () => {
    const cases: [RestError, StorageError['code'], boolean?][] = [
      [restError(403, 'AuthenticationFailed'), 'auth'],
      [restError(401, 'NoAuthenticationInformation'), 'auth'],
      [restError(404, 'BlobNotFound'), 'not-found'],
      [restError(409, 'BlobAlreadyExists'), 'exists'],
      [restError(412, 'ConditionNotMet'), 'precondition'],
      [restError(412, 'ConditionNotMet'), 'exists', true],
      [restError(400, 'Md5Mismatch'), 'integrity'],
      [restError(503, 'ServerBusy'), 'unavailable'],
      [restError(400, 'InvalidHeaderValue'), 'unknown'],
      [restError(409, 'BlobImmutableDueToPolicy'), 'immutable'],
      [restError(409, 'BlobImmutableDueToLegalHold'), 'immutable'],
      [restError(501, 'APINotImplemented'), 'not-supported'],
      [restError(409, 'LeaseIdMissing'), 'unknown'],
    ];
    for (const [err, code, ifNoneMatch] of cases) {
      const mapped = toStorageError(err, { ...context, ifNoneMatch: ifNoneMatch ?? false });
      assert.equal(mapped.code, code, `${String(err.statusCode)} ${String(err.code)}`);
      assert.ok(mapped.message.startsWith('commit a/b in c failed'), mapped.message);
      assert.ok(!mapped.message.includes('\n'), mapped.message);
      assert.equal(mapped.detail.status, err.statusCode);
    }
  });

  test('a network failure is unavailable and names the endpoint', () => {
    const err = new RestError('connect ECONNREFUSED 10.0.0.1:443', { code: 'ECONNREFUSED' });
    const mapped = toStorageError(err, context);
    assert.equal(mapped.code, 'unavailable');
    assert.equal(
      mapped.message,
      'Blob Storage at https://acct.blob.core.windows.net is unreachable (connect ECONNREFUSED 10.0.0.1:443)',
    );
    const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    assert.equal(toStorageError(abort, context).code, 'unavailable');
  });

  test('a credential failure is auth; anything else is unknown; a StorageError passes through', () => {
    const cred = Object.assign(new Error('DefaultAzureCredential failed\nto retrieve a token'), {
      name: 'CredentialUnavailableError',
    });
    const mapped = toStorageError(cred, context);
    assert.equal(mapped.code, 'auth');
    assert.equal(
      mapped.message,
      `no usable Azure credential for ${context.endpoint}: DefaultAzureCredential failed`,
    );
    assert.equal(toStorageError(new TypeError('boom'), context).code, 'unknown');
    const original = new StorageError('exists', 'x');
    assert.equal(toStorageError(original, context), original);
  });

  test('never repeats keys or SAS signatures', () => {
    const err = new Error(
      'bad string AccountKey=c2VjcmV0;BlobEndpoint=https://a/?sv=2024&sig=abc%2Fdef&se=x',
    );
    const mapped = toStorageError(err, context);
    assert.ok(!mapped.message.includes('c2VjcmV0'), mapped.message);
    assert.ok(!mapped.message.includes('abc%2Fdef'), mapped.message);
  });
});
