import type { WalArchive } from '@tidemark/wal-archive';

/**
 * Where a target's WAL goes: the part of the archive (libs/wal-archive) the receiver writes through, so a unit test
 * can hand it a fake and the archiver the real WalArchive.
 */
export type WalSink = Pick<
  WalArchive,
  'commitSegment' | 'commitHistory' | 'shipPartial' | 'removePartial' | 'newestSegment'
>;
