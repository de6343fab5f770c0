import { z } from 'zod';
import { historyFileName, timelineName, type Timeline } from './segments';

/**
 * Where a target's WAL lives in Blob Storage: `<targetId>/wal/<timeline>/<file>.zst`, `.zst.age` when the
 * target's policy encrypts (segments and partials; a history file holds no data and stays plain). A completed
 * segment is written once and never replaced by different bytes; the `.partial` of the segment being filled is
 * replaced each time it is shipped; history files sit in the directory of the timeline they describe.
 */
export const WAL_DIRECTORY = 'wal';
export const WAL_EXTENSION = '.zst';
export const PARTIAL_SUFFIX = '.partial';
/** The suffix of an age-encrypted WAL blob, after `.zst`. */
export const WAL_AGE_SUFFIX = '.age';

export function walPrefix(targetId: string): string {
  return `${targetId}/${WAL_DIRECTORY}/`;
}

export function walTimelinePrefix(targetId: string, timeline: Timeline): string {
  return `${walPrefix(targetId)}${timelineName(timeline)}/`;
}

/** The blob of a completed segment, e.g. `orders/wal/00000001/000000010000000000000003.zst[.age]`. */
export function segmentBlobName(
  targetId: string,
  timeline: Timeline,
  segmentFile: string,
  encrypted = false,
): string {
  return `${walTimelinePrefix(targetId, timeline)}${segmentFile}${WAL_EXTENSION}${encrypted ? WAL_AGE_SUFFIX : ''}`;
}

/** The blob of the segment still being filled, replaced every `pitr.shipPartialSeconds`. */
export function partialBlobName(
  targetId: string,
  timeline: Timeline,
  segmentFile: string,
  encrypted = false,
): string {
  const suffix = `${PARTIAL_SUFFIX}${WAL_EXTENSION}${encrypted ? WAL_AGE_SUFFIX : ''}`;
  return `${walTimelinePrefix(targetId, timeline)}${segmentFile}${suffix}`;
}

export function historyBlobName(targetId: string, timeline: Timeline): string {
  return `${walTimelinePrefix(targetId, timeline)}${historyFileName(timeline)}${WAL_EXTENSION}`;
}

export type WalFileKind = 'segment' | 'partial' | 'history';

export interface ParsedWalBlob {
  targetId: string;
  timeline: Timeline;
  /** The PostgreSQL file name: a segment (also for a partial, without `.partial`) or `<TLI>.history`. */
  file: string;
  kind: WalFileKind;
  /** Age-encrypted (`.zst.age`): reading it takes an identity of the target's policy. */
  encrypted: boolean;
}

const WAL_BLOB =
  /^([a-z0-9-]{1,63})\/wal\/([0-9A-F]{8})\/([0-9A-F]{24}|[0-9A-F]{8}\.history)(\.partial)?\.zst(\.age)?$/;

/** Parses a blob name under `<targetId>/wal/`; null for anything else. */
export function parseWalBlobName(name: string): ParsedWalBlob | null {
  const match = WAL_BLOB.exec(name);
  if (!match) return null;
  const file = match[3] as string;
  const history = file.endsWith('.history');
  const encrypted = match[5] !== undefined;
  if (history && (match[4] || encrypted)) return null;
  return {
    targetId: match[1] as string,
    timeline: Number.parseInt(match[2] as string, 16),
    file,
    kind: history ? 'history' : match[4] ? 'partial' : 'segment',
    encrypted,
  };
}

/**
 * The blob metadata every WAL blob carries (Azure metadata keys are lower-case identifiers). `sha256` and `size`
 * are of the raw (decompressed) file, so `zstd -d | sha256sum` checks it with stock tools.
 */
export const walBlobMetadataSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.coerce.number().int().min(0),
  /** When the archiver received the file's last byte (the file's mtime): no commit in it is newer. */
  receivedat: z.iso.datetime({ offset: true }),
  timeline: z.coerce.number().int().min(1),
  /** Partials: the LSN up to which the shipped bytes hold WAL (`X/Y`). */
  endlsn: z.string().optional(),
  /** `stream` (pg_receivewal over a slot) or `spool` (archive_command). */
  route: z.enum(['stream', 'spool']),
});
export type WalBlobMetadata = z.infer<typeof walBlobMetadataSchema>;

/** Metadata as Azure stores it: every value a string. */
export function walBlobMetadata(value: WalBlobMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, field] of Object.entries(value) as [string, string | number | undefined][]) {
    if (field !== undefined) out[key] = String(field);
  }
  return out;
}

/** Reads stored metadata back; null when a field is missing or malformed (a blob not written by Tidemark). */
export function readWalBlobMetadata(metadata: Record<string, string>): WalBlobMetadata | null {
  const result = walBlobMetadataSchema.safeParse(metadata);
  return result.success ? result.data : null;
}
