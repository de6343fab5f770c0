import { mapLimit } from '@tidemark/concurrency';
import {
  DEFAULT_SEGMENT_BYTES,
  historyFileName,
  parseLsn,
  parseSegmentFileName,
  parseTimelineHistory,
  segmentFileName,
  segmentOf,
  type Timeline,
  timelineAt,
  type TimelineSwitch,
} from '@tidemark/wal';
import { type ArchivedWalFile, type WalArchive } from './wal-archive';
import { WalArchiveError } from './wal-archive-error';

/** One finding, shaped exactly as the `problems` of the `tidemark.wal.gap` event. */
export interface ContinuityProblem {
  kind: 'missing-segment' | 'missing-history' | 'checksum-mismatch' | 'unreadable';
  timeline: Timeline;
  file: string;
  detail?: string;
}

export interface ContinuityReport {
  /** The segment file holding the start position. */
  checkedFrom: string;
  /** The newest archived segment file (the start segment when nothing newer is archived). */
  checkedTo: string;
  problems: ContinuityProblem[];
  newest: ArchivedWalFile | null;
}

export interface ContinuityOptions {
  segmentBytes?: number;
  /** Download every segment on the way and check its sha256 (slow: reads the whole range). */
  verifyChecksums?: boolean;
}

/** Concurrent downloads while verifying; the machine decompresses, so a small number. */
const VERIFY_CONCURRENCY = 2;

interface ArchiveIndex {
  segments: Map<string, ArchivedWalFile>;
  histories: Map<Timeline, ArchivedWalFile>;
}

function indexFiles(files: readonly ArchivedWalFile[]): ArchiveIndex {
  const segments = new Map<string, ArchivedWalFile>();
  const histories = new Map<Timeline, ArchivedWalFile>();
  for (const file of files) {
    if (file.kind === 'segment') segments.set(file.file, file);
    else if (file.kind === 'history') histories.set(file.timeline, file);
  }
  return { segments, histories };
}

/** The newest segment: on the highest timeline, the highest segment number there. */
function newestSegment(files: readonly ArchivedWalFile[], segmentBytes: number): ArchivedWalFile | null {
  let best: { file: ArchivedWalFile; segno: bigint } | null = null;
  for (const file of files) {
    if (file.kind !== 'segment') continue;
    const name = parseSegmentFileName(file.file, segmentBytes);
    if (!name) continue;
    const better =
      !best ||
      file.timeline > best.file.timeline ||
      (file.timeline === best.file.timeline && name.segno > best.segno);
    if (better) best = { file, segno: name.segno };
  }
  return best?.file ?? null;
}

/**
 * Walks the archive from the segment holding `from.lsn` to the newest archived segment, as recovery would read
 * it: each segment on the timeline that holds its last byte (the segment holding a switch point exists on both
 * timelines and recovery reads the child's copy), with the history file of every timeline after the first.
 */
export async function checkContinuity(
  archive: WalArchive,
  targetId: string,
  from: { timeline: Timeline; lsn: string },
  options: ContinuityOptions = {},
): Promise<ContinuityReport> {
  const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const files = await archive.list(targetId);
  const index = indexFiles(files);
  const newest = newestSegment(files, segmentBytes);
  const start = segmentOf(parseLsn(from.lsn), from.timeline, segmentBytes);
  const checkedFrom = segmentFileName(start, segmentBytes);
  const problems: ContinuityProblem[] = [];
  const end = newest ? (parseSegmentFileName(newest.file, segmentBytes)?.segno ?? start.segno) : start.segno;
  const latest = Math.max(newest?.timeline ?? from.timeline, from.timeline);
  const history = await readHistory(archive, index, latest, problems);
  const path: ArchivedWalFile[] = [];
  const needHistory = new Set<Timeline>();
  let previousTimeline = from.timeline;
  for (let segno = start.segno; segno <= (end < start.segno ? start.segno : end); segno++) {
    const lastByte = (segno + 1n) * BigInt(segmentBytes) - 1n;
    const timeline = history
      ? Math.max(timelineAt(lastByte, latest, history), from.timeline)
      : highestPresent(index, segno, segmentBytes, latest, previousTimeline);
    previousTimeline = timeline;
    if (timeline > 1) needHistory.add(timeline);
    const file = segmentFileName({ timeline, segno }, segmentBytes);
    const found = index.segments.get(file);
    if (!found) problems.push({ kind: 'missing-segment', timeline, file });
    else if (!found.metadata) problems.push(unreadable(found));
    else path.push(found);
  }
  for (const timeline of needHistory) {
    if (timeline !== latest && !index.histories.has(timeline))
      problems.push({ kind: 'missing-history', timeline, file: historyFileName(timeline) });
  }
  if (options.verifyChecksums) problems.push(...(await verifyAll(archive, path)));
  return {
    checkedFrom,
    checkedTo: newest && end >= start.segno ? newest.file : checkedFrom,
    problems,
    newest,
  };
}

/** The switch points leading to `latest`; null (and a problem) when its history file is absent or unreadable. */
async function readHistory(
  archive: WalArchive,
  index: ArchiveIndex,
  latest: Timeline,
  problems: ContinuityProblem[],
): Promise<TimelineSwitch[] | null> {
  if (latest === 1) return [];
  const file = index.histories.get(latest);
  if (!file) {
    problems.push({ kind: 'missing-history', timeline: latest, file: historyFileName(latest) });
    return null;
  }
  if (!file.metadata) {
    problems.push(unreadable(file));
    return null;
  }
  try {
    return parseTimelineHistory(await archive.readText(file));
  } catch (error) {
    const kind =
      error instanceof WalArchiveError && error.code === 'checksum-mismatch'
        ? 'checksum-mismatch'
        : 'unreadable';
    problems.push({ kind, timeline: latest, file: file.file, detail: detailOf(error) });
    return null;
  }
}

/** Without the history, the best guess of where a segment lives: the highest timeline that has it. */
function highestPresent(
  index: ArchiveIndex,
  segno: bigint,
  segmentBytes: number,
  latest: Timeline,
  previous: Timeline,
): Timeline {
  for (let timeline = latest; timeline > previous; timeline--) {
    if (index.segments.has(segmentFileName({ timeline, segno }, segmentBytes))) return timeline;
  }
  return previous;
}

async function verifyAll(
  archive: WalArchive,
  files: readonly ArchivedWalFile[],
): Promise<ContinuityProblem[]> {
  const found = await mapLimit(files, VERIFY_CONCURRENCY, async (file): Promise<ContinuityProblem | null> => {
    try {
      await archive.verify(file);
      return null;
    } catch (error) {
      if (!(error instanceof WalArchiveError)) throw error;
      const kind = error.code === 'checksum-mismatch' ? 'checksum-mismatch' : 'unreadable';
      return { kind, timeline: file.timeline, file: file.file, detail: error.message };
    }
  });
  return found.filter((problem): problem is ContinuityProblem => problem !== null);
}

function unreadable(file: ArchivedWalFile): ContinuityProblem {
  return {
    kind: 'unreadable',
    timeline: file.timeline,
    file: file.file,
    detail: `${file.blobName} has no Tidemark metadata`,
  };
}

function detailOf(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}
