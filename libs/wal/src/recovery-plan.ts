import { timelineAt, type TimelineSwitch } from './history';
import { formatLsn, type Lsn, parseLsn } from './lsn';
import type { PhysicalBackup } from './physical';
import {
  DEFAULT_SEGMENT_BYTES,
  historyFileName,
  parseSegmentFileName,
  segmentFileName,
  segmentOf,
  segmentStart,
  type Timeline,
} from './segments';
import type { WalFileKind } from './wal-blobs';

/** One file of the archive as the planner needs it (the wal-archive lib lists these). */
export interface ArchivedWal {
  timeline: Timeline;
  /** The PostgreSQL file name (a partial's segment name, without `.partial`). */
  file: string;
  kind: WalFileKind;
  receivedAt: Date;
}

export interface BaseBackupPoint {
  backupId: string;
  physical: PhysicalBackup;
}

export type RecoveryTarget =
  | { type: 'time'; at: Date }
  | { type: 'lsn'; lsn: Lsn }
  | { type: 'latest' }
  /** The base backup's own end: the earliest consistent point. */
  | { type: 'immediate' };

/** How far one base backup can be rolled forward with the archive as it is. */
export interface Reach {
  base: BaseBackupPoint;
  /** The files to fetch in replay order: history files first, then segments (a trailing partial last). */
  files: ArchivedWal[];
  /** The base backup's end: nothing earlier can be restored from it. */
  from: Date;
  /** When the last byte of the last continuous file was received: no commit after it is in the archive. */
  to: Date;
  toLsn: Lsn;
  /** The timeline recovery ends on. */
  timeline: Timeline;
  /** Whether the WAL up to the backup's stop LSN is all there (without it the backup cannot be restored). */
  consistent: boolean;
}

export interface RecoveryPlan {
  base: BaseBackupPoint;
  target: RecoveryTarget;
  timeline: Timeline;
  files: ArchivedWal[];
  /**
   * Time targets: the reach's files after `files`, in order. A file's receive time bounds the commits it holds
   * from above only (a receiver catching up after an outage writes minutes of WAL at once), so the commit just
   * before the target may lie in a later file: a restore fetches these, in order, while the WAL it placed holds no
   * transaction after the target.
   */
  more: ArchivedWal[];
  /** The archive's reach from this base, for messages. */
  reach: { from: Date; to: Date };
}

/** Reachable ranges nearest the refused target, so the message can name what would work. */
export class RecoveryRefused extends Error {
  override readonly name = 'RecoveryRefused';
  constructor(
    message: string,
    readonly windows: readonly { from: Date; to: Date }[],
  ) {
    super(message);
  }
}

export interface ArchiveState {
  files: readonly ArchivedWal[];
  /** The parsed history file of each timeline above 1 that the archive holds. */
  histories: ReadonlyMap<Timeline, readonly TimelineSwitch[]>;
}

function key(timeline: Timeline, file: string): string {
  return `${String(timeline)}/${file}`;
}

/** The newest timeline the archive knows and the switch points leading to it. */
function latestTimeline(state: ArchiveState): { timeline: Timeline; history: readonly TimelineSwitch[] } {
  let timeline = 1;
  for (const file of state.files) timeline = Math.max(timeline, file.timeline);
  return { timeline, history: state.histories.get(timeline) ?? [] };
}

/**
 * Walks the archive forward from a base backup's start segment, on the timeline that holds each segment (the
 * segment holding a switch point is read from the new timeline, as recovery does), until the first missing one;
 * a partial of that missing segment ends the walk.
 */
export function reachOf(base: BaseBackupPoint, state: ArchiveState): Reach {
  const segmentBytes = base.physical.walSegmentBytes || DEFAULT_SEGMENT_BYTES;
  const { timeline: latest, history } = latestTimeline(state);
  const onPath =
    history.some((entry) => entry.parent === base.physical.timeline) || latest === base.physical.timeline;
  const byName = new Map(
    state.files.map((file) => [
      key(file.timeline, `${file.file}${file.kind === 'partial' ? '.partial' : ''}`),
      file,
    ]),
  );
  const stopLsn = parseLsn(base.physical.stopLsn);
  const from = new Date(base.physical.stoppedAt);
  const files: ArchivedWal[] = [];
  const timelines = new Set<Timeline>();
  let segno = segmentOf(parseLsn(base.physical.startLsn), base.physical.timeline, segmentBytes).segno;
  let last: ArchivedWal | undefined;
  let toLsn: Lsn = parseLsn(base.physical.startLsn);
  let timeline = base.physical.timeline;
  for (;;) {
    const lastByte = segmentStart({ timeline, segno: segno + 1n }, segmentBytes) - 1n;
    timeline = onPath
      ? Math.max(timelineAt(lastByte, latest, history), base.physical.timeline)
      : base.physical.timeline;
    const name = segmentFileName({ timeline, segno }, segmentBytes);
    const complete = byName.get(key(timeline, name));
    const partial = complete ? undefined : byName.get(key(timeline, `${name}.partial`));
    const found = complete ?? partial;
    if (!found) break;
    files.push(found);
    timelines.add(timeline);
    last = found;
    toLsn = complete ? lastByte + 1n : segmentStart({ timeline, segno }, segmentBytes);
    if (partial) break;
    segno += 1n;
  }
  const historyFiles: ArchivedWal[] = [];
  for (const tl of timelines) {
    if (tl <= 1) continue;
    const file = state.files.find((entry) => entry.kind === 'history' && entry.file === historyFileName(tl));
    if (file) historyFiles.push(file);
  }
  const stopSegment = segmentOf(stopLsn, base.physical.timeline, segmentBytes).segno;
  const lastSegno = last ? (parseSegmentFileName(last.file, segmentBytes)?.segno ?? -1n) : -1n;
  const consistent =
    last !== undefined &&
    (lastSegno > stopSegment ||
      (lastSegno === stopSegment && last.kind === 'segment') ||
      (last.kind === 'partial' && toLsn > stopLsn));
  return {
    base,
    files: [...historyFiles, ...files],
    from,
    to: last && consistent ? maxDate(last.receivedAt, from) : from,
    toLsn: consistent ? (toLsn > stopLsn ? toLsn : stopLsn) : stopLsn,
    timeline: last?.timeline ?? base.physical.timeline,
    consistent,
  };
}

function maxDate(a: Date, b: Date): Date {
  return a.getTime() >= b.getTime() ? a : b;
}

/** The earliest and latest restorable times: one range per run of base backups the archive connects. */
export function recoveryWindows(
  bases: readonly BaseBackupPoint[],
  state: ArchiveState,
): { from: Date; to: Date }[] {
  const reaches = bases.map((base) => reachOf(base, state)).filter((reach) => reach.consistent);
  reaches.sort((a, b) => a.from.getTime() - b.from.getTime());
  const windows: { from: Date; to: Date }[] = [];
  for (const reach of reaches) {
    const previous = windows.at(-1);
    if (previous && reach.from.getTime() <= previous.to.getTime()) {
      previous.to = maxDate(previous.to, reach.to);
    } else {
      windows.push({ from: reach.from, to: reach.to });
    }
  }
  return windows;
}

function describeWindows(windows: readonly { from: Date; to: Date }[]): string {
  if (windows.length === 0) return 'the archive holds no restorable point (no base backup with its WAL)';
  return `restorable: ${windows.map((w) => `${w.from.toISOString()} to ${w.to.toISOString()}`).join(', ')}`;
}

/**
 * Chooses the newest base backup that ended before the target and whose WAL reaches it, and the files to fetch.
 * A target the archive cannot reach (before the oldest base backup's end, past the newest WAL, inside a gap) is
 * refused with the reachable ranges in the message, before anything is fetched or written.
 */
export function planRecovery(
  target: RecoveryTarget,
  bases: readonly BaseBackupPoint[],
  state: ArchiveState,
): RecoveryPlan {
  const windows = recoveryWindows(bases, state);
  const reaches = bases
    .map((base) => reachOf(base, state))
    .filter((reach) => reach.consistent)
    .sort((a, b) => b.from.getTime() - a.from.getTime());
  const refuse = (what: string): never => {
    throw new RecoveryRefused(`${what} cannot be reached: ${describeWindows(windows)}`, windows);
  };
  const chosen = chooseReach(target, reaches) ?? refuse(describeTarget(target));
  return {
    base: chosen.base,
    target,
    timeline: chosen.timeline,
    ...filesFor(target, chosen),
    reach: { from: chosen.from, to: chosen.to },
  };
}

function chooseReach(target: RecoveryTarget, reaches: readonly Reach[]): Reach | undefined {
  switch (target.type) {
    case 'latest':
    case 'immediate':
      return reaches[0];
    case 'time': {
      const at = target.at.getTime();
      return reaches.find((reach) => reach.from.getTime() <= at && at <= reach.to.getTime());
    }
    case 'lsn':
      return reaches.find(
        (reach) => parseLsn(reach.base.physical.stopLsn) <= target.lsn && target.lsn <= reach.toLsn,
      );
  }
}

function describeTarget(target: RecoveryTarget): string {
  switch (target.type) {
    case 'time':
      return target.at.toISOString();
    case 'lsn':
      return `WAL position ${formatLsn(target.lsn)}`;
    default:
      return 'a restorable point';
  }
}

/**
 * The files up to the first received at or after the target, plus the next (so replay sees a record past the
 * target); for a time target the rest of the reach as `more`.
 */
function filesFor(target: RecoveryTarget, reach: Reach): { files: ArchivedWal[]; more: ArchivedWal[] } {
  const histories = reach.files.filter((file) => file.kind === 'history');
  const segments = reach.files.filter((file) => file.kind !== 'history');
  const segmentBytes = BigInt(reach.base.physical.walSegmentBytes);
  const segnoOf = (file: ArchivedWal) => parseSegmentFileName(file.file, Number(segmentBytes))?.segno ?? 0n;
  const holding = (segno: bigint) => segments.findIndex((file) => segnoOf(file) >= segno);
  const stop = ((): number => {
    switch (target.type) {
      case 'latest':
        return segments.length - 1;
      case 'immediate':
        return holding(parseLsn(reach.base.physical.stopLsn) / segmentBytes);
      case 'time':
        return segments.findIndex((file) => file.receivedAt.getTime() >= target.at.getTime());
      case 'lsn':
        return holding(target.lsn / segmentBytes);
    }
  })();
  const end = stop < 0 ? segments.length : Math.min(segments.length, stop + 2);
  return {
    files: [...histories, ...segments.slice(0, end)],
    more: target.type === 'time' ? segments.slice(end) : [],
  };
}
