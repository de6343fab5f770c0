import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error';
import { identityRefsOf, isAgeRecipient } from './encryption.schema';
import { validateConfig } from './validate-config';

// Throwaway keys made with age-keygen for these tests only.
const RECIPIENT = 'age1nc0tekca3mm96k7mzhtdqw4sfhdc8x9ykxdeky80t3g70246apwqr2rk5h';
const SECRET = 'AGE-SECRET-KEY-1X4R7X84WHFLJELUPXFJGJNLJ5D2035Z4YR9N6GJWEXDU7JRJAZ0QMJ35U9';

function config(encryption: unknown): Record<string, unknown> {
  return {
    policies: { standard: { schedule: '0 2 * * *', encryption } },
    targets: [{ id: 't', kind: 'alpha', url: '/x', policy: 'standard' }],
  };
}

function problems(encryption: unknown): string[] {
  try {
    validateConfig(config(encryption));
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('policy encryption', () => {
  test('recipients as age1 keys or ${ENV}; identity as ${ENV}, a file, Key Vault, or a list of them', () => {
    const identity = [
      '${AGE_IDENTITY}',
      { file: '/etc/tidemark/old.key' },
      { keyVault: { vaultUrl: 'https://tm.vault.azure.net', secret: 'age-identity' } },
    ];
    const policy = validateConfig(config({ recipients: [RECIPIENT, '${BREAKGLASS}'], identity })).policies[
      'standard'
    ];
    assert.ok(policy?.encryption);
    assert.deepEqual(policy.encryption.recipients, [RECIPIENT, '${BREAKGLASS}']);
    assert.equal(identityRefsOf(policy.encryption).length, 3);
    const single = validateConfig(config({ recipients: [RECIPIENT], identity: '${K}' })).policies['standard'];
    assert.deepEqual(single?.encryption && identityRefsOf(single.encryption), ['${K}']);
    const none = validateConfig(config({ recipients: [RECIPIENT] })).policies['standard'];
    assert.deepEqual(none?.encryption && identityRefsOf(none.encryption), []);
  });

  test('a recipient that is not a valid age1 key names its index', () => {
    const damaged = `${RECIPIENT.slice(0, -1)}x`;
    assert.deepEqual(problems({ recipients: [RECIPIENT, damaged] }), [
      `policies.standard.encryption.recipients[1]: "${damaged}" is not a valid age recipient (a public key age1… or a \${NAME} reference)`,
    ]);
    assert.deepEqual(problems({ recipients: [] }), [
      'policies.standard.encryption.recipients: at least one recipient is required',
    ]);
  });

  test('a private key in place of a recipient is refused without repeating it', () => {
    const [message = ''] = problems({ recipients: [SECRET] });
    assert.match(message, /^policies\.standard\.encryption\.recipients\[0\]: is an age identity/);
    assert.ok(!message.includes(SECRET));
  });

  test('an identity written inline is refused without repeating it', () => {
    for (const identity of [SECRET, [SECRET], `prefix \${X}`, { key: SECRET }, 42]) {
      const found = problems({ recipients: [RECIPIENT], identity });
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.match(
        found[0] ?? '',
        /^policies\.standard\.encryption\.identity(\[0\])?: must (not hold the key itself: write|be) "\$\{NAME\}"/,
      );
      assert.ok(!found.join('\n').includes(SECRET));
    }
  });

  test('a Key Vault reference needs an https vault and a secret name', () => {
    const keyVault = { vaultUrl: 'http://tm.vault.azure.net', secret: 'a b' };
    assert.deepEqual(problems({ recipients: [RECIPIENT], identity: { keyVault } }), [
      'policies.standard.encryption.identity.keyVault.vaultUrl: must be the https URL of a Key Vault',
      'policies.standard.encryption.identity.keyVault.secret: must be a Key Vault secret name (1-127 letters, digits and hyphens)',
    ]);
    assert.deepEqual(
      problems({ recipients: [RECIPIENT], identity: [{ file: '/k' }, { file: '/k', x: 1 }] }),
      [
        'policies.standard.encryption.identity[1]: unknown key "x" (an identity is "${NAME}", { file: <path> } or { keyVault: { vaultUrl, secret } })',
      ],
    );
  });

  test('isAgeRecipient checks the bech32 checksum', () => {
    assert.ok(isAgeRecipient(RECIPIENT));
    assert.ok(!isAgeRecipient(RECIPIENT.toUpperCase()));
    assert.ok(!isAgeRecipient(RECIPIENT.replace('nc0', 'nc2')));
    assert.ok(!isAgeRecipient('age1'));
  });
});
