import type { AgeRecipients, Compression, Manifest, Trigger } from './manifest.schema';
import { artifactName, type ArtifactFormatSpec } from './naming';

export interface NewManifestInput {
  backupId: string;
  target: Manifest['target'];
  policy: string;
  trigger: Trigger;
  requestedAt: Date;
  startedAt: Date;
  /** The format as the source's kind declares it (libs/source-kinds: `artifactFormat`). */
  format: ArtifactFormatSpec;
  compression: Compression;
  /** Set when the policy encrypts: the artifact is age-encrypted to these public keys after compression. */
  encryption?: AgeRecipients | undefined;
  localPath: string;
  dumpAttempt: number;
  tool: Manifest['tool'];
}

/** The manifest of a backup whose dump has just started. */
export function newManifest(input: NewManifestInput): Manifest {
  const { encryption } = input;
  const name = artifactName(input.format, input.compression, encryption !== undefined);
  return {
    schemaVersion: 1,
    backupId: input.backupId,
    target: input.target,
    policy: input.policy,
    trigger: input.trigger,
    status: 'dumping',
    pinned: false,
    timestamps: {
      requestedAt: input.requestedAt.toISOString(),
      dumpStartedAt: input.startedAt.toISOString(),
    },
    artifact: {
      name,
      format: input.format.format,
      compression: input.compression,
      encryption: encryption ? 'age' : 'none',
      ...(encryption ? { age: encryption } : {}),
      size: null,
      rawSize: null,
      sha256: null,
      dumpAttempt: input.dumpAttempt,
      parts: [],
    },
    content: { tables: [] },
    locations: { local: { path: input.localPath }, remote: null },
    verification: null,
    failure: null,
    deletion: null,
    tool: input.tool,
    restoreHint: restoreHint(name, input.format, input.compression, encryption !== undefined),
  };
}

function restoreHint(
  name: string,
  format: ArtifactFormatSpec,
  compression: Compression,
  encrypted: boolean,
): string {
  const decompress = { zstd: 'zstd -dc', gzip: 'gzip -dc', none: 'cat' }[compression];
  // age reads the file and writes the compressed stream; the decompressor then reads stdin.
  const unpack = encrypted
    ? `age -d -i <identity file> ${name} | ${compression === 'none' ? '' : `${decompress} | `}`
    : `${decompress} ${name} | `;
  return (
    `Download ${name} (e.g. azcopy copy or curl with a SAS URL), check it with sha256sum against artifact.sha256, ` +
    `then: ${unpack}${format.restoreCommand}`
  );
}
