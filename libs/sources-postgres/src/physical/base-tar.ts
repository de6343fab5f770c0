import type { Readable } from 'node:stream';
import { readTar, TarFormatError } from '@tidemark/source-contract';

/** The members of a base backup's tar that Tidemark reads; every other member is skipped unbuffered. */
const LABEL = 'backup_label';
const MANIFEST = 'backup_manifest';
const PG_CONTROL = 'global/pg_control';
/** backup_manifest lists every file of the cluster with a checksum: far below this even for large clusters. */
const MANIFEST_LIMIT = 256 * 1024 * 1024;
const LABEL_LIMIT = 64 * 1024;

/** What `backup_label` says about where the backup starts. */
export interface BackupLabel {
  startLsn: string;
  timeline: number;
  /** As the server wrote it, e.g. `2026-12-03 09:10:11 UTC`. */
  startTime: string;
}

export interface BaseTarSummary {
  entries: number;
  label: BackupLabel | undefined;
  /** backup_manifest parsed as JSON; undefined when the tar has none. */
  manifest: Record<string, unknown> | undefined;
  hasPgControl: boolean;
}

/**
 * Reads a pg_basebackup tar to its end, keeping only backup_label and backup_manifest (the two small members)
 * in memory. A damaged tar is a TarFormatError, and the input is still read to its end.
 */
export async function readBaseTar(input: Readable): Promise<BaseTarSummary> {
  let label: BackupLabel | undefined;
  let manifest: Record<string, unknown> | undefined;
  let hasPgControl = false;
  const entries = await readTar(
    input,
    async ({ name, size, body }) => {
      const path = name.replace(/^\.\//, '');
      if (path === PG_CONTROL) hasPgControl = true;
      if (path === LABEL) label = parseBackupLabel(await collect(body, size, LABEL_LIMIT, path));
      if (path === MANIFEST) manifest = parseManifest(await collect(body, size, MANIFEST_LIMIT, path));
    },
    { onError: 'drain' },
  );
  return { entries, label, manifest, hasPgControl };
}

async function collect(
  body: AsyncIterable<Buffer>,
  size: number,
  limit: number,
  name: string,
): Promise<string> {
  if (size > limit) throw new TarFormatError(`tar member "${name}" is ${size} bytes, more than ${limit}`);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)`, `START TIMELINE: 1`, `START TIME: …`. */
export function parseBackupLabel(text: string): BackupLabel {
  const field = (key: string): string => {
    const match = new RegExp(`^${key}: (.+)$`, 'm').exec(text);
    if (!match?.[1]) throw new TarFormatError(`backup_label has no ${key}`);
    return match[1].trim();
  };
  const startLsn = /^[0-9A-F]+\/[0-9A-F]+/i.exec(field('START WAL LOCATION'))?.[0];
  if (!startLsn) throw new TarFormatError('backup_label has no readable START WAL LOCATION');
  const timeline = Number(field('START TIMELINE'));
  if (!Number.isInteger(timeline) || timeline < 1)
    throw new TarFormatError('backup_label has a bad START TIMELINE');
  return { startLsn, timeline, startTime: field('START TIME') };
}

function parseManifest(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TarFormatError('backup_manifest is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new TarFormatError('backup_manifest is not a JSON object');
  return parsed as Record<string, unknown>;
}

/** The manifest's WAL range of the backup's timeline: where recovery must start and the least it must replay. */
export function manifestWalRange(
  manifest: Record<string, unknown>,
  timeline: number,
): { startLsn: string; stopLsn: string } {
  const ranges = manifest['WAL-Ranges'];
  if (!Array.isArray(ranges)) throw new TarFormatError('backup_manifest has no WAL-Ranges');
  for (const range of ranges as unknown[]) {
    const { Timeline, 'Start-LSN': start, 'End-LSN': end } = (range ?? {}) as Record<string, unknown>;
    if (Timeline === timeline && typeof start === 'string' && typeof end === 'string')
      return { startLsn: start, stopLsn: end };
  }
  throw new TarFormatError(`backup_manifest has no WAL range for timeline ${timeline}`);
}
