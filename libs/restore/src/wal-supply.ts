import { SourceError, type WalFileRequest, type WalSupply } from '@tidemark/source-contract';
import type { BlobStore } from '@tidemark/storage';
import {
  type ArchivedWal,
  type ArchiveState,
  parseTimelineHistory,
  parseWalBlobName,
  readWalBlobMetadata,
  segmentBlobName,
  type Timeline,
  type TimelineSwitch,
  type WalFileKind,
} from '@tidemark/wal';
import { type ArchivedWalFile, type WalArchive, WalArchiveError } from '@tidemark/wal-archive';
import { RestoreError } from './artifact-stream';

/** How often a partial replaced while it was read is read again. */
const PARTIAL_ATTEMPTS = 3;

function key(timeline: Timeline, kind: WalFileKind, file: string): string {
  return `${String(timeline)}/${kind}/${file}`;
}

/**
 * The archive as the recovery planner sees it: every file Tidemark wrote (a blob without its metadata cannot be
 * checked, so it counts as missing) and the parsed history of each timeline, read checked.
 */
export async function readArchiveState(
  archive: WalArchive,
  targetId: string,
): Promise<{ archive: ArchiveState; files: ArchivedWalFile[] }> {
  const files = (await archive.list(targetId)).filter((file) => file.metadata !== null);
  const histories = new Map<Timeline, readonly TimelineSwitch[]>();
  for (const file of files) {
    if (file.kind !== 'history') continue;
    const text = await archive.readText(file).catch((error: unknown) => {
      throw new RestoreError(
        'restore-failed',
        `cannot read the history of timeline ${String(file.timeline)}: ${(error as Error).message}`,
      );
    });
    histories.set(file.timeline, parseTimelineHistory(text));
  }
  const planned: ArchivedWal[] = files.map((file) => ({
    timeline: file.timeline,
    file: file.file,
    kind: file.kind,
    receivedAt: new Date(file.metadata?.receivedat ?? file.lastModified),
  }));
  return { archive: { files: planned, histories }, files };
}

/** The kind's WalSupply over the target's archive: each file fetched checked, the archive's errors in its terms. */
export class WalFetcher implements WalSupply {
  private readonly byKey: Map<string, ArchivedWalFile>;
  /** How many files were fetched so far. */
  fetched = 0;

  constructor(
    private readonly archive: WalArchive,
    private readonly store: BlobStore,
    files: readonly ArchivedWalFile[],
  ) {
    this.byKey = new Map(files.map((file) => [key(file.timeline, file.kind, file.file), file]));
  }

  async fetch(request: WalFileRequest, destination: string): Promise<void> {
    const kind: WalFileKind = request.file.endsWith('.history')
      ? 'history'
      : request.partial
        ? 'partial'
        : 'segment';
    const what = `${request.file}${kind === 'partial' ? '.partial' : ''} (timeline ${String(request.timeline)})`;
    const listed = this.byKey.get(key(request.timeline, kind, request.file));
    if (!listed) throw new SourceError('wal-missing', `the WAL archive holds no ${what}`);
    if (kind !== 'partial') return this.fetchOne(listed, what, destination);
    // A running archiver replaces the partial as it grows and removes it once the segment is complete: read what
    // is there now (more WAL than planned, never less), and again when it was replaced while being read.
    for (let attempt = 1; ; attempt++) {
      const current =
        (await this.current(listed.blobName)) ??
        (await this.current(
          segmentBlobName(parseWalBlobName(listed.blobName)?.targetId ?? '', listed.timeline, listed.file),
        ));
      if (!current) throw new SourceError('wal-missing', `the WAL archive holds no ${what} any more`);
      try {
        await this.fetchOne(current, what, destination);
        return;
      } catch (error) {
        const replaced = error instanceof SourceError && error.code === 'restore-failed';
        if (!replaced || attempt >= PARTIAL_ATTEMPTS) throw error;
      }
    }
  }

  private async fetchOne(file: ArchivedWalFile, what: string, destination: string): Promise<void> {
    try {
      await this.archive.fetch(file, destination);
    } catch (error) {
      if (!(error instanceof WalArchiveError)) throw error;
      if (error.code === 'missing') throw new SourceError('wal-missing', error.message);
      if (error.code === 'checksum-mismatch')
        throw new SourceError('restore-failed', `WAL ${what} is damaged: ${error.message}`);
      throw new SourceError('restore-failed', `cannot fetch WAL ${what}: ${error.message}`);
    }
    this.fetched += 1;
  }

  /** The blob as it is now (its metadata read again), or null when it is gone. */
  private async current(blobName: string): Promise<ArchivedWalFile | null> {
    const parsed = parseWalBlobName(blobName);
    const props = await this.store.properties(blobName);
    if (!parsed || !props) return null;
    return {
      blobName,
      timeline: parsed.timeline,
      file: parsed.file,
      kind: parsed.kind,
      encrypted: parsed.encrypted,
      metadata: readWalBlobMetadata(props.metadata),
      compressedBytes: props.size,
      tier: props.tier,
      lastModified: props.lastModified,
    };
  }

  /** The blobs of the planned files that were in the Archive tier when listed (unreadable until rehydrated). */
  archivedAmong(files: readonly ArchivedWal[]): string[] {
    return files.flatMap((planned) => {
      const file = this.byKey.get(key(planned.timeline, planned.kind, planned.file));
      return file?.tier === 'Archive' ? [file.blobName] : [];
    });
  }
}
