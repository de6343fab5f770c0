import type { ArtifactFormatSpec, Run } from '@tidemark/manifest';
import {
  SourceError,
  type Source,
  type SourceKind,
  type SourceOptions,
  type SourceTarget,
} from '@tidemark/source-contract';
import { azureBlobKind } from '@tidemark/sources-azure-blob';
import { directoryKind } from '@tidemark/sources-directory';
import { mysqlKind } from '@tidemark/sources-mysql';
import { postgresKind } from '@tidemark/sources-postgres';
import { sqliteKind } from '@tidemark/sources-sqlite';

// Each kind registers its descriptor here, one line each; the rest of Tidemark only sees SourceKind and Source.
const KINDS: readonly SourceKind[] = [postgresKind, mysqlKind, sqliteKind, directoryKind, azureBlobKind];

const BY_NAME: ReadonlyMap<string, SourceKind> = new Map(KINDS.map((kind) => [kind.name, kind]));

/** The names of every supported kind, in the order the config's messages list them. */
export const SOURCE_KINDS: readonly string[] = KINDS.map((kind) => kind.name);

/** The descriptor of kind `name`; SourceError('unsupported-kind') naming the supported ones otherwise. */
export function sourceKind(name: string): SourceKind {
  const kind = BY_NAME.get(name);
  if (!kind) {
    throw new SourceError(
      'unsupported-kind',
      `unsupported source kind "${name}" (supported: ${SOURCE_KINDS.join(', ')})`,
    );
  }
  return kind;
}

/** Format `format` of kind `kind`, as the kind declares it: how its artifact is named and read. */
export function artifactFormat(kind: string, format: string): ArtifactFormatSpec {
  const spec = sourceKind(kind).formats.find((candidate) => candidate.format === format);
  if (!spec) throw new Error(`source kind "${kind}" has no artifact format "${format}"`);
  return spec;
}

/** Every registered descriptor. */
export function sourceKinds(): readonly SourceKind[] {
  return KINDS;
}

export function createSource(target: SourceTarget, options: SourceOptions = {}): Source {
  return sourceKind(target.kind).create(target, options);
}

/**
 * The source of one member of a server run, as its kind derives it (the cluster's globals, or one database of the
 * server). A backup that is not part of a run is taken from the target as configured.
 */
export function runMemberTarget(
  target: SourceTarget,
  backup: { run?: Run | undefined; target: { database: string } },
): SourceTarget {
  if (!backup.run) return target;
  const runs = sourceKind(target.kind).runs;
  return runs ? runs.memberTarget(target, { name: backup.target.database, role: backup.run.role }) : target;
}
