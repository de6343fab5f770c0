import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createBlobStore } from './create-blob-store';

describe('createBlobStore', () => {
  test('without configuration it says which variables to set', () => {
    assert.throws(() => createBlobStore({ container: 'c', env: {} }), {
      name: 'StorageError',
      code: 'not-configured',
      message: 'no Blob Storage configured: set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL',
    });
  });

  test('an invalid connection string is not-configured without echoing it', () => {
    const secret = 'AccountName=a;AccountKey=dG9wc2VjcmV0;Nonsense';
    assert.throws(
      () => createBlobStore({ container: 'c', env: { AZURE_STORAGE_CONNECTION_STRING: secret } }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'not-configured');
        assert.ok(!err.message.includes('dG9wc2VjcmV0'));
        return true;
      },
    );
  });

  test('an account URL uses a token credential; the endpoint drops any query', () => {
    const store = createBlobStore({
      container: 'backups',
      env: { AZURE_STORAGE_ACCOUNT_URL: 'https://acct.blob.core.windows.net/?sv=1&sig=secret' },
    });
    assert.equal(store.endpoint, 'https://acct.blob.core.windows.net');
    assert.equal(store.container, 'backups');
    assert.throws(
      () => createBlobStore({ container: 'c', env: { AZURE_STORAGE_ACCOUNT_URL: 'not a url' } }),
      {
        code: 'not-configured',
      },
    );
  });

  test('the connection string wins over the account URL', () => {
    const store = createBlobStore({
      container: 'c',
      env: {
        AZURE_STORAGE_CONNECTION_STRING:
          'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;',
        AZURE_STORAGE_ACCOUNT_URL: 'https://acct.blob.core.windows.net',
      },
    });
    assert.equal(store.endpoint, 'http://127.0.0.1:1/devstoreaccount1');
  });
});
