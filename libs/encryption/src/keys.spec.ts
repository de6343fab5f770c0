import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { ConfigError } from '@tidemark/policy';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncryptionError } from './encryption-error';
import { recipientsFingerprint } from './fingerprint';
import { loadIdentities, resolveRecipients } from './keys';

const PATH = 'policies.standard.encryption';

async function rejection(promise: Promise<unknown>): Promise<EncryptionError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EncryptionError, String(error));
    return error;
  }
  assert.fail('expected an EncryptionError');
}

describe('recipients', () => {
  test('${ENV} recipients are filled in; the fingerprint ignores order and repeats', async () => {
    const [a, b] = [
      await identityToRecipient(await generateX25519Identity()),
      await identityToRecipient(await generateX25519Identity()),
    ];
    const resolved = resolveRecipients({ recipients: [a, '${BREAKGLASS}'] }, { BREAKGLASS: ` ${b}\n` }, PATH);
    assert.deepEqual(resolved.recipients, [a, b]);
    assert.equal(resolved.fingerprint, recipientsFingerprint([b, a, b]));
    assert.match(resolved.fingerprint, /^sha256:[0-9a-f]{16}$/);
    assert.notEqual(resolved.fingerprint, recipientsFingerprint([a]));
  });

  test('an unset variable or one not holding a recipient is named by index, without its value', async () => {
    const secret = await generateX25519Identity();
    try {
      resolveRecipients({ recipients: ['${A}', '${B}'] }, { B: secret }, PATH);
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        `${PATH}.recipients[0]: environment variable A is not set\n` +
          `${PATH}.recipients[1]: environment variable B does not hold an age recipient (age1…)`,
      );
    }
  });
});

describe('identities', () => {
  test('from a variable, a file (identity file format) and Key Vault, in order', async () => {
    const [one, two, three, four] = await Promise.all([1, 2, 3, 4].map(() => generateX25519Identity()));
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-keys-'));
    try {
      const file = join(dir, 'old.key');
      writeFileSync(file, `# created: 2026-01-01\n# public key: age1…\n${two}\n\n${three}\n`, {
        mode: 0o600,
      });
      const asked: string[] = [];
      const identities = await loadIdentities(
        {
          recipients: [],
          identity: [
            '${AGE_IDENTITY}',
            { file },
            { keyVault: { vaultUrl: 'https://v.vault.azure.net', secret: 's' } },
          ],
        },
        {
          env: { AGE_IDENTITY: one },
          keyVault: (vaultUrl, secret) => {
            asked.push(`${vaultUrl} ${secret}`);
            return Promise.resolve(four);
          },
        },
        PATH,
      );
      assert.deepEqual(identities, [one, two, three, four]);
      assert.deepEqual(asked, ['https://v.vault.azure.net s']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('none configured, unset, absent or empty: key-missing naming the source', async () => {
    const cases: [Parameters<typeof loadIdentities>[0], RegExp][] = [
      [{ recipients: [] }, /^policies\.standard\.encryption\.identity is not set/],
      [
        { recipients: [], identity: '${AGE_IDENTITY}' },
        /identity: environment variable AGE_IDENTITY is not set$/,
      ],
      [
        { recipients: [], identity: [{ file: '/nonexistent/k' }] },
        /identity\[0\]: identity file \/nonexistent\/k cannot be read \(ENOENT\)$/,
      ],
      [
        { recipients: [], identity: { keyVault: { vaultUrl: 'https://v.vault.azure.net', secret: 'gone' } } },
        /Key Vault https:\/\/v\.vault\.azure\.net secret gone\): no such secret$/,
      ],
    ];
    const keyVault = (): Promise<string> =>
      Promise.reject(Object.assign(new Error('not found'), { statusCode: 404 }));
    for (const [encryption, message] of cases) {
      const error = await rejection(loadIdentities(encryption, { env: {}, keyVault }, PATH));
      assert.equal(error.code, 'key-missing');
      assert.match(error.message, message);
    }
  });

  test('Key Vault failing otherwise: key-unavailable (retried); a value that is no identity: key-invalid, unquoted', async () => {
    const encryption = {
      recipients: [],
      identity: { keyVault: { vaultUrl: 'https://v.vault.azure.net', secret: 's' } },
    };
    const down = await rejection(
      loadIdentities(
        encryption,
        { env: {}, keyVault: () => Promise.reject(new Error('ECONNREFUSED\nstack')) },
        PATH,
      ),
    );
    assert.equal(down.code, 'key-unavailable');
    assert.match(down.message, /cannot be read: ECONNREFUSED$/);
    const pasted = 'AGE-SECRET-KEY-1-but-mangled secret';
    const invalid = await rejection(
      loadIdentities({ recipients: [], identity: '${K}' }, { env: { K: pasted } }, PATH),
    );
    assert.equal(invalid.code, 'key-invalid');
    assert.equal(
      invalid.message,
      `${PATH}.identity (environment variable K): entry 1 is not an age identity (AGE-SECRET-KEY-1…)`,
    );
  });
});
