import { createDecompressor } from '@tidemark/artifact';
import type { Manifest } from '@tidemark/manifest';
import type { Target, TidemarkConfig } from '@tidemark/policy';
import { PassThrough, type Transform } from 'node:stream';
import { AgeDecryptStream } from './age-stream';
import { EncryptionError } from './encryption-error';
import { loadIdentities, policyEncryption, type IdentitySources } from './keys';

export interface UnpackOptions {
  /** Leave the compression on (a source that unpacks it in its own tool); only decrypt. */
  packed?: boolean;
}

/**
 * Stored bytes → the dump tool's bytes, as pipeline steps: age decryption with `identities` when the artifact is
 * encrypted, then decompression (unless `packed`). Never empty, so it can be spread into `pipeline(...)`.
 */
export function unpackSteps(
  artifact: Pick<Manifest['artifact'], 'encryption' | 'compression'>,
  identities: readonly string[],
  options: UnpackOptions = {},
): [Transform, ...Transform[]] {
  const decompress = options.packed ? [] : [createDecompressor(artifact.compression)];
  if (artifact.encryption !== 'age') {
    const [only] = decompress;
    return [only ?? new PassThrough()];
  }
  return [new AgeDecryptStream(identities), ...decompress];
}

/**
 * The steps piped one into the next, for a caller that needs one writable end and one readable end (not
 * `pipeline`): an error in any step destroys the first with it, so whoever writes hears it, and the rest with it.
 */
export function linkSteps(steps: readonly [Transform, ...Transform[]]): { head: Transform; tail: Transform } {
  const [head] = steps;
  let tail = head;
  for (const step of steps.slice(1)) {
    tail.pipe(step);
    tail = step;
  }
  for (const step of steps) {
    step.on('error', (error: Error) => {
      for (const other of steps) if (other !== step && !other.destroyed) other.destroy(error);
    });
  }
  return { head, tail };
}

/** Resolves once an encrypted artifact's header has been unwrapped (at once for a plain one); rejects with why not. */
export function headerChecked(steps: readonly Transform[]): Promise<void> {
  const [head] = steps;
  return head instanceof AgeDecryptStream ? head.headerRead : Promise.resolve();
}

/**
 * The identities the target's policy configures, or none when it configures none (no encryption, or no
 * `identity`): for files that may or may not be encrypted (WAL), where only an encrypted one needs a key.
 */
export async function configuredIdentities(
  config: TidemarkConfig,
  target: Target,
  sources: IdentitySources,
): Promise<string[]> {
  const policy = policyEncryption(config, target);
  if (!policy || policy.encryption.identity === undefined) return [];
  return loadIdentities(policy.encryption, sources, policy.path);
}

/**
 * The identities the target's policy configures, for reading its encrypted backups (verifier, restore). A policy
 * without `encryption.identity` gives key-missing naming what to set.
 */
export async function targetIdentities(
  config: TidemarkConfig,
  target: Target,
  sources: IdentitySources,
): Promise<string[]> {
  const policy = policyEncryption(config, target);
  if (!policy) {
    throw new EncryptionError(
      'key-missing',
      `policies.${target.policy}.encryption.identity is not set: this service cannot decrypt the backups of ${target.id}`,
    );
  }
  return loadIdentities(policy.encryption, sources, policy.path);
}
