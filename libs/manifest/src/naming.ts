import { MANIFEST_BLOB_NAME_PATTERN } from './ids';
import type { Compression, Manifest } from './manifest.schema';

/** The name of an artifact format in the manifest (`artifact.format`); each source kind declares its own. */
export type ArtifactFormat = string;

/** One artifact format as its source kind declares it (`SourceKind.formats`): how its files are named and read. */
export interface ArtifactFormatSpec {
  format: ArtifactFormat;
  /** Before the compression's extension, e.g. `pgc` for `dump.pgc.zst`. */
  extension: string;
  /** The stock-tool command that consumes the decompressed artifact on stdin, for the manifest's restore hint. */
  restoreCommand: string;
}

/** Artifact file name for a dump format with the given compression, e.g. `dump.pgc.zst` (`.age` when encrypted). */
export function artifactName(
  format: ArtifactFormatSpec,
  compression: Compression,
  encrypted = false,
): string {
  return `dump.${format.extension}${COMPRESSION_EXTENSION[compression]}${encrypted ? AGE_EXTENSION : ''}`;
}
/** The suffix of every artifact encrypted with age (DESIGN §10). */
export const AGE_EXTENSION = '.age';
const COMPRESSION_EXTENSION: Record<Compression, string> = { zstd: '.zst', gzip: '.gz', none: '' };

/** `<targetId>/<backupId>/` — every blob and local file of one backup lives under this prefix. */
export function backupPrefix(targetId: string, backupId: string): string {
  return `${targetId}/${backupId}/`;
}

export function artifactBlobName(targetId: string, backupId: string, artifact: string): string {
  return `${backupPrefix(targetId, backupId)}${artifact}`;
}

export const MANIFEST_FILE = 'manifest.json';

export function manifestBlobName(targetId: string, backupId: string): string {
  return `${backupPrefix(targetId, backupId)}${MANIFEST_FILE}`;
}

/** Parses `<targetId>/<backupId>/manifest.json`; null for any other blob name. */
export function parseManifestBlobName(name: string): { targetId: string; backupId: string } | null {
  const m = MANIFEST_BLOB_NAME_PATTERN.exec(name);
  return m ? { targetId: m[1] as string, backupId: m[2] as string } : null;
}

/**
 * File name of part N (1-based) of one dump run inside the backup's local directory. The run number keeps a
 * retried dump's parts apart from a failed run's parts that an uploader may still be reading.
 */
export function partFileName(artifact: string, dumpAttempt: number, part: number): string {
  return `${artifact}.a${String(dumpAttempt).padStart(2, '0')}.part-${String(part).padStart(5, '0')}`;
}

/**
 * Block ids must all have the same length within one blob: `a<run:2>p<part:5>b<block:5>` base64-encoded.
 * Deterministic, so staging a part again overwrites the same blocks; a new dump run never reuses a block id.
 */
export function blockId(dumpAttempt: number, part: number, block: number): string {
  const text = `a${String(dumpAttempt).padStart(2, '0')}p${String(part).padStart(5, '0')}b${String(block).padStart(5, '0')}`;
  return Buffer.from(text).toString('base64');
}

/**
 * Bytes per staged block. Fixed, so every uploader replica derives the same block ids; 8 MiB blocks allow blobs
 * up to Azure's 50,000-block limit, about 390 GiB.
 */
export const BLOCK_SIZE = 8 * 1024 * 1024;

/** The block ids of one part, in order, for a given block size. A zero-byte part has no blocks. */
export function partBlockIds(
  dumpAttempt: number,
  part: { index: number; size: number },
  blockSize = BLOCK_SIZE,
): string[] {
  const count = Math.ceil(part.size / blockSize);
  return Array.from({ length: count }, (_, block) => blockId(dumpAttempt, part.index, block));
}

/** The blob holding a backup's artifact; a manifest that never recorded one still names it by the layout. */
export function artifactBlobOf(manifest: Manifest): string {
  return (
    manifest.locations.remote?.blobName ??
    artifactBlobName(manifest.target.id, manifest.backupId, manifest.artifact.name)
  );
}
