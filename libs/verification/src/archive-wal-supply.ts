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

function blobNameOf(targetId: string, request: WalFileRequest): string {
  if (parseHistoryFileName(request.file) !== null) return historyBlobName(targetId, request.timeline);
  return request.partial
    ? partialBlobName(targetId, request.timeline, request.file)
    : segmentBlobName(targetId, request.timeline, request.file);
}

/**
 * A target's WAL archive as a restore reads it: each file looked up by name (one properties call, no listing) and
 * fetched checked. An absent file is SourceError('wal-missing') (the archiver may not have shipped it yet), a
 * checksum mismatch 'restore-failed'; a storage failure propagates as it is, to be retried.
 */
export function archiveWalSupply(store: BlobStore, targetId: string): WalSupply {
  const archive = new WalArchive(store);
  return {
    async fetch(request, destination) {
      const blobName = blobNameOf(targetId, request);
      const props = await store.properties(blobName);
      if (!props) throw new SourceError('wal-missing', `${blobName} is not in the WAL archive (yet)`);
      const file: ArchivedWalFile = {
        blobName,
        timeline: request.timeline,
        file: request.file,
        kind:
          parseHistoryFileName(request.file) !== null ? 'history' : request.partial ? 'partial' : 'segment',
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
