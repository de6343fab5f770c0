import { AgeDecryptStream, configuredIdentities, targetIdentities } from '@tidemark/encryption';
import type { Manifest } from '@tidemark/manifest';
import { targetById, type TidemarkConfig } from '@tidemark/policy';
import type { BlobStore } from '@tidemark/storage';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RestoreError } from './artifact-stream';

/**
 * The age identities the backups' target's policy configures, loaded only when one of them is encrypted: a plain
 * restore never reads a key. Without a config nothing names them, so an encrypted backup is key-missing.
 */
export async function identitiesFor(
  config: TidemarkConfig | undefined,
  backups: readonly Manifest[],
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  const encrypted = backups.find((backup) => backup.artifact.encryption === 'age');
  if (!encrypted) return [];
  if (!config) {
    throw new RestoreError(
      'key-missing',
      `backup ${encrypted.backupId} is encrypted and no identity is configured`,
    );
  }
  return targetIdentities(config, targetById(config, encrypted.target.id), { env });
}

/** The identities the target's policy names, or none: for its WAL, which is encrypted only if the policy was. */
export async function walIdentities(
  config: TidemarkConfig | undefined,
  targetId: string,
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  return config ? configuredIdentities(config, targetById(config, targetId), { env }) : [];
}

/**
 * Reads the age header of every encrypted backup and unwraps its file key: a backup no configured identity opens
 * is refused (key-mismatch) before anything is written, whatever the kind's restore would make of a broken
 * stream. Only the first bytes of each blob are read.
 */
export async function assertIdentitiesOpen(
  store: BlobStore,
  backups: readonly Manifest[],
  identities: readonly string[],
): Promise<void> {
  for (const backup of backups) {
    const remote = backup.locations.remote;
    if (backup.artifact.encryption !== 'age' || !remote) continue;
    const download = await store.download(remote.blobName);
    const decrypt = new AgeDecryptStream(identities);
    const reading = new AbortController();
    // Only the header matters: the rest is dropped, and the download stopped once the verdict is in.
    const piping = pipeline(download.stream, decrypt, discard(), { signal: reading.signal }).catch(
      () => undefined,
    );
    try {
      await decrypt.headerRead;
    } finally {
      reading.abort();
      await piping;
    }
  }
}

function discard(): Writable {
  return new Writable({
    write(_chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
      done();
    },
  });
}
