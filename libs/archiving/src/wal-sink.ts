import type { Timeline } from '@tidemark/wal';

/** How a file reached the archive: streamed by the archiver, or spooled by archive_command. */
export type WalRoute = 'stream' | 'spool';

export interface CommitSegmentInput {
  targetId: string;
  timeline: Timeline;
  /** The segment's file name, e.g. `000000010000000000000003`. */
  file: string;
  /** The local file to read. */
  path: string;
  receivedAt: Date;
  route: WalRoute;
}

export interface CommitHistoryInput {
  targetId: string;
  timeline: Timeline;
  path: string;
  receivedAt: Date;
  route: WalRoute;
}

export interface ShipPartialInput extends CommitSegmentInput {
  endLsn?: string;
}

export interface CommitResult {
  result: 'archived' | 'duplicate';
  rawBytes: number;
  compressedBytes: number;
  sha256: string;
}

/**
 * Where a target's WAL goes. The port has exactly the methods of WalArchive (libs/wal-archive), so that archive
 * plugs in structurally.
 */
export interface WalSink {
  commitSegment(input: CommitSegmentInput): Promise<CommitResult>;
  commitHistory(input: CommitHistoryInput): Promise<CommitResult>;
  shipPartial(input: ShipPartialInput): Promise<{ rawBytes: number; compressedBytes: number }>;
  removePartial(targetId: string, timeline: Timeline, file: string): Promise<void>;
  /** The newest archived complete segment, null when the archive holds none. */
  newestSegment(targetId: string): Promise<{ timeline: Timeline; file: string } | null>;
}
