import { SourceError, type WalFileRequest, type WalSupply } from '@tidemark/source-kinds';
import type { BlobStore } from '@tidemark/storage';
import {
  DEFAULT_SEGMENT_BYTES,
  historyBlobName,
  parseHistoryFileName,
  parseLsn,
  parseSegmentFileName,
  parseWalBlobName,
  partialBlobName,
  readWalBlobMetadata,
  segmentBlobName,
  segmentOf,
  walPrefix,
  type PhysicalBackup,
} from '@tidemark/wal';
import { WalArchive, WalArchiveError, type ArchivedWalFile } from '@tidemark/wal-archive';

/** Where the file may be: plain, or encrypted (`.zst.age`; the likelier first when identities are given). */
function blobNamesOf(targetId: string, request: WalFileRequest, encryptedFirst: boolean): string[] {
  if (parseHistoryFileName(request.file) !== null) return [historyBlobName(targetId, request.timeline)];
  const name = (encrypted: boolean): string =>
    request.partial
      ? partialBlobName(targetId, request.timeline, request.file, encrypted)
      : segmentBlobName(targetId, request.timeline, request.file, encrypted);
  return [name(encryptedFirst), name(!encryptedFirst)];
}

/**
 * A target's WAL archive as a restore reads it: each file looked up by name (one properties call, no listing) and
 * fetched checked. An absent file is SourceError('wal-missing') (the archiver may not have shipped it yet), a
 * checksum mismatch 'restore-failed'; a storage failure propagates as it is, to be retried.
 */
export function archiveWalSupply(
  store: BlobStore,
  targetId: string,
  identities: readonly string[] = [],
): WalSupply {
  const archive = new WalArchive(store, { identities });
  return {
    async fetch(request, destination) {
      const names = blobNamesOf(targetId, request, identities.length > 0);
      let found: {
        blobName: string;
        props: NonNullable<Awaited<ReturnType<BlobStore['properties']>>>;
      } | null = null;
      for (const blobName of names) {
        const props = await store.properties(blobName);
        if (props) {
          found = { blobName, props };
          break;
        }
      }
      if (!found) throw new SourceError('wal-missing', `${names[0] ?? ''} is not in the WAL archive (yet)`);
      const { blobName, props } = found;
      const file: ArchivedWalFile = {
        blobName,
        timeline: request.timeline,
        file: request.file,
        kind:
          parseHistoryFileName(request.file) !== null ? 'history' : request.partial ? 'partial' : 'segment',
        encrypted: parseWalBlobName(blobName)?.encrypted ?? false,
        metadata: readWalBlobMetadata(props.metadata),
        compressedBytes: props.size,
        tier: props.tier,
        lastModified: props.lastModified,
      };
      try {
        await archive.fetch(file, destination);
      } catch (error) {
        if (!(error instanceof WalArchiveError) || error.code === 'storage') throw error;
        if (error.code === 'missing') throw new SourceError('wal-missing', error.message);
        throw new SourceError('restore-failed', `the WAL archive is damaged: ${error.message}`);
      }
    },
  };
}

/**
 * Whether the target's archive was streaming when the base backup began: it holds a segment (or partial) at or
 * before the backup's start segment. Only then will the backup's own WAL range arrive; a backup of a target
 * without point-in-time recovery (or taken before its archive began) is tested without replaying WAL.
 */
export async function archiveCoversStart(
  store: BlobStore,
  targetId: string,
  backup: PhysicalBackup,
): Promise<boolean> {
  const bytes = backup.walSegmentBytes || DEFAULT_SEGMENT_BYTES;
  const start = segmentOf(parseLsn(backup.startLsn), backup.timeline, bytes).segno;
  for await (const item of store.list(walPrefix(targetId))) {
    const parsed = parseWalBlobName(item.name);
    if (!parsed || parsed.kind === 'history' || parsed.timeline > backup.timeline) continue;
    const segment = parseSegmentFileName(parsed.file, bytes);
    if (segment && segment.segno <= start) return true;
  }
  return false;
}
