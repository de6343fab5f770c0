import {
  ConfigError,
  envRefs,
  identityRefsOf,
  isAgeRecipient,
  isWholeEnvRef,
  policyOf,
  type EncryptionPolicy,
  type IdentityRef,
  type Target,
  type TidemarkConfig,
} from '@tidemark/policy';
import { readFile } from 'node:fs/promises';
import { EncryptionError } from './encryption-error';
import { recipientsFingerprint } from './fingerprint';

/* eslint-disable @typescript-eslint/no-require-imports */
// Loaded only by a service whose policy keeps its identity in Key Vault.
const keyVaultSdk = (): typeof import('@azure/keyvault-secrets') =>
  require('@azure/keyvault-secrets') as typeof import('@azure/keyvault-secrets');
const identitySdk = (): typeof import('@azure/identity') =>
  require('@azure/identity') as typeof import('@azure/identity');
/* eslint-enable @typescript-eslint/no-require-imports */

/** What the dumper encrypts to: the resolved public keys, and their fingerprint for the manifest. */
export interface EncryptionRecipients {
  recipients: string[];
  fingerprint: string;
}

/**
 * The policy's recipients with `${ENV}` references filled in from `env`. An unset variable or a value that is not
 * an age recipient is a ConfigError naming `path` and the index (never the value: a variable may hold a private
 * key set by mistake).
 */
export function resolveRecipients(
  encryption: EncryptionPolicy,
  env: NodeJS.ProcessEnv,
  path: string,
): EncryptionRecipients {
  const issues: { path: string; message: string }[] = [];
  const recipients = encryption.recipients.flatMap((recipient, index) => {
    const at = `${path}.recipients[${index}]`;
    if (!isWholeEnvRef(recipient)) return [recipient];
    const [name = ''] = envRefs(recipient);
    const value = env[name]?.trim();
    if (!value) {
      issues.push({ path: at, message: `environment variable ${name} is not set` });
      return [];
    }
    if (!isAgeRecipient(value)) {
      issues.push({
        path: at,
        message: `environment variable ${name} does not hold an age recipient (age1…)`,
      });
      return [];
    }
    return [value];
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return { recipients, fingerprint: recipientsFingerprint(recipients) };
}

/** Fetches one Key Vault secret's value; tests pass their own. */
export type KeyVaultReader = (vaultUrl: string, secret: string) => Promise<string | undefined>;

export interface IdentitySources {
  env: NodeJS.ProcessEnv;
  keyVault?: KeyVaultReader;
}

/** The service's own credential (workload or managed identity, az login, env): DefaultAzureCredential. */
const readKeyVaultSecret: KeyVaultReader = async (vaultUrl, secret) => {
  const client = new (keyVaultSdk().SecretClient)(vaultUrl, new (identitySdk().DefaultAzureCredential)());
  return (await client.getSecret(secret)).value;
};

/**
 * Every identity (`AGE-SECRET-KEY-…`) the policy's `identity` references hold, in order (rotation: the newest
 * first, older ones after). A source may hold several, one a line, like an age identity file (`#` comments).
 * Without any reference: key-missing. Messages name the reference (`path`, the variable, file or secret), never
 * what it holds.
 */
export async function loadIdentities(
  encryption: EncryptionPolicy,
  sources: IdentitySources,
  path: string,
): Promise<string[]> {
  const refs = identityRefsOf(encryption);
  if (refs.length === 0) {
    throw new EncryptionError(
      'key-missing',
      `${path}.identity is not set: this service cannot decrypt the policy's backups`,
    );
  }
  const identities: string[] = [];
  for (const [index, ref] of refs.entries()) {
    const at = Array.isArray(encryption.identity) ? `${path}.identity[${index}]` : `${path}.identity`;
    const { text, from } = await readIdentitySource(ref, sources, at);
    identities.push(...parseIdentities(text, from));
  }
  return identities;
}

async function readIdentitySource(
  ref: IdentityRef,
  sources: IdentitySources,
  at: string,
): Promise<{ text: string; from: string }> {
  if (typeof ref === 'string') {
    const [name = ''] = envRefs(ref);
    const value = sources.env[name];
    if (!value) throw new EncryptionError('key-missing', `${at}: environment variable ${name} is not set`);
    return { text: value, from: `${at} (environment variable ${name})` };
  }
  if ('file' in ref) {
    try {
      return { text: await readFile(ref.file, 'utf8'), from: `${at} (file ${ref.file})` };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new EncryptionError('key-missing', `${at}: identity file ${ref.file} cannot be read (${code})`);
    }
  }
  const { vaultUrl, secret } = ref.keyVault;
  const from = `${at} (Key Vault ${vaultUrl} secret ${secret})`;
  let value: string | undefined;
  try {
    value = await (sources.keyVault ?? readKeyVaultSecret)(vaultUrl, secret);
  } catch (error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (status === 404) throw new EncryptionError('key-missing', `${from}: no such secret`);
    // The SDK's own message names the vault, the secret and the credential chain, never the value.
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new EncryptionError('key-unavailable', `${from}: cannot be read: ${reason ?? 'unknown error'}`);
  }
  if (!value) throw new EncryptionError('key-missing', `${from}: the secret is empty`);
  return { text: value, from };
}

const IDENTITY_LINE = /^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/;

/** The identities in an identity file's text (one a line; blank lines and `#` comments skipped). */
function parseIdentities(text: string, from: string): string[] {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const bad = lines.findIndex((line) => !IDENTITY_LINE.test(line));
  if (lines.length === 0 || bad >= 0) {
    throw new EncryptionError(
      'key-invalid',
      lines.length === 0
        ? `${from} holds no age identity`
        : `${from}: entry ${bad + 1} is not an age identity (AGE-SECRET-KEY-1…)`,
    );
  }
  return lines;
}

/** The encryption of a policy and where it sits in the config, for path-named errors; null when it has none. */
export function policyEncryption(
  config: TidemarkConfig,
  target: Target,
): { encryption: EncryptionPolicy; path: string } | null {
  const encryption = policyOf(config, target).encryption;
  return encryption ? { encryption, path: `policies.${target.policy}.encryption` } : null;
}
