import type { Compression, Manifest, Trigger } from './manifest.schema';
import { artifactName, type ArtifactFormat } from './naming';

export interface NewManifestInput {
  backupId: string;
  target: Manifest['target'];
  policy: string;
  trigger: Trigger;
  requestedAt: Date;
  startedAt: Date;
  format: ArtifactFormat;
  compression: Compression;
  localPath: string;
  dumpAttempt: number;
  tool: Manifest['tool'];
}

/** The manifest of a backup whose dump has just started. */
export function newManifest(input: NewManifestInput): Manifest {
  const name = artifactName(input.format, input.compression);
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
      format: input.format,
      compression: input.compression,
      encryption: 'none',
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
    restoreHint: restoreHint(name, input.format, input.compression),
  };
}

// The stock-tool command that consumes the decompressed artifact on stdin.
const RESTORE_COMMAND: Record<ArtifactFormat, string> = {
  'pg_dump-custom': 'pg_restore --no-owner -d <database>',
  'pg_dump-directory-tar': 'tar -x -C <dir> && pg_restore --no-owner -j 4 -d <database> <dir>',
  'pg_dumpall-globals': 'psql -d postgres',
  'mysqldump-sql': 'mariadb <database>',
  'sqlite-db': 'cat > <file.db> (first remove any old <file.db>-wal, -shm or -journal)',
  tar: 'tar -x -C <dir> (an incremental: extract its chain from content.chain.base onwards, keeping for each path the member named by content.files[].in)',
};

function restoreHint(name: string, format: ArtifactFormat, compression: Compression): string {
  const decompress = { zstd: 'zstd -dc', gzip: 'gzip -dc', none: 'cat' }[compression];
  return (
    `Download ${name} (e.g. azcopy copy or curl with a SAS URL), check it with sha256sum against artifact.sha256, ` +
    `then: ${decompress} ${name} | ${RESTORE_COMMAND[format]}`
  );
}
