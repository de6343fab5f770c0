import { VerifiedStream } from '@tidemark/artifact';
import { headerChecked, linkSteps, unpackSteps } from '@tidemark/encryption';
import { chainMembers, neededMembers, type Manifest } from '@tidemark/manifest';
import type { BlobStore } from '@tidemark/storage';
import type { Readable } from 'node:stream';
import type { Catalog } from './catalog';

export class ChainError extends Error {
  override readonly name = 'ChainError';

  constructor(
    readonly code: 'chain-broken' | 'not-uploaded',
    message: string,
  ) {
    super(message);
  }
}

export interface ChainArtifact {
  backupId: string;
  /**
   * Decrypted (when encrypted) and decompressed bytes; the stream errors (ChecksumMismatchError) before its end
   * if the blob is damaged.
   */
  stream: Readable;
}

/**
 * The members a point of a chain needs, oldest first; each must be uploaded or verified. Throws ChainError
 * naming the missing or unusable member, so a broken chain is reported rather than half-restored.
 */
export async function chainOf(catalog: Catalog, point: Manifest): Promise<Manifest[]> {
  if (!point.chain?.parent) return [point];
  const { manifests } = await catalog.list(point.target.id);
  const members = chainMembers(point, new Map(manifests.map((m) => [m.backupId, m])));
  if (!members)
    throw new ChainError(
      'chain-broken',
      `backup ${point.backupId} is an incremental whose chain (from ${point.chain.base}) is incomplete: a member is missing, failed or being deleted`,
    );
  return neededMembers(point, members);
}

export interface ReadChainOptions {
  onBytes?: (bytes: number) => void;
  /** Age identities for encrypted members (the target's policy's); a plain member needs none. */
  identities?: readonly string[];
}

/**
 * Opens the members one after the other, each only when the previous one has been asked for the next: one
 * download at a time, every byte checked against the member's sha256 on the way.
 */

export async function* readChain(
  store: BlobStore,
  members: readonly Manifest[],
  options: ReadChainOptions = {},
): AsyncGenerator<ChainArtifact> {
  const { onBytes, identities = [] } = options;
  for (const member of members) {
    const remote = member.locations.remote;
    const sha256 = member.artifact.sha256;
    if (!remote || !sha256)
      throw new ChainError('not-uploaded', `chain member ${member.backupId} has no artifact in Blob Storage`);
    const download = await store.download(remote.blobName);
    const verified = new VerifiedStream(sha256);
    const steps = unpackSteps(member.artifact, identities);
    const { head, tail } = linkSteps(steps);
    download.stream.on('error', (error: Error) => {
      verified.destroy(error);
    });
    if (onBytes)
      download.stream.on('data', (chunk: Buffer) => {
        onBytes(chunk.length);
      });
    verified.on('error', (error) => {
      head.destroy(error);
    });
    download.stream.pipe(verified).pipe(head);
    // A member no configured identity opens fails the chain here, as itself, not as a damaged stream.
    await headerChecked(steps);
    yield { backupId: member.backupId, stream: tail };
  }
}
