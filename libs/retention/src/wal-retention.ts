import { ACCESS_TIERS, type AccessTier } from '@tidemark/manifest';
import { type BlobProtection, deletionBlock } from '@tidemark/policy';
import type { ArchivedWalFile } from '@tidemark/wal-archive';
import {
  type ArchiveState,
  type BaseBackupPoint,
  DEFAULT_SEGMENT_BYTES,
  type Lsn,
  parseLsn,
  parseSegmentFileName,
  type PhysicalBackup,
  reachOf,
  segmentOf,
  type Timeline,
  type TimelineSwitch,
} from '@tidemark/wal';

const DAY_MS = 86_400_000;

/**
 * How a kept base backup holds WAL. `onward`: every segment from its start segment on, on its timeline and the
 * timelines that branch off it later (the base is kept by the policy, so a restore to any time after it must
 * work). `range`: only its own start..stop segments (a base kept only because it is pinned: restorable to its
 * end, without pinning all WAL after it). `none`: nothing (failed or corrupt, kept for its grace period).
 */
export type WalHold = 'onward' | 'range' | 'none';

export interface WalHolder {
  backupId: string;
  physical: PhysicalBackup;
  hold: WalHold;
  /** The base's tier once this run's moves are made; its WAL follows it down. */
  tier: AccessTier | null;
  /** Kept to serve the PITR window: its WAL onward must stay readable, so it never goes to Archive. */
  servesWindow: boolean;
}

export interface WalRetentionInput {
  files: readonly ArchivedWalFile[];
  histories: ReadonlyMap<Timeline, readonly TimelineSwitch[]>;
  holders: readonly WalHolder[];
  windowDays: number;
  now: Date;
}

export interface WalTierMove {
  from: AccessTier;
  to: AccessTier;
}

export interface PlannedWalFile {
  blobName: string;
  timeline: Timeline;
  file: string;
  kind: ArchivedWalFile['kind'];
  bytes: number;
  receivedAt: string | null;
  tier: string | null;
  action: 'keep' | 'delete';
  reasons: string[];
  tierMove: WalTierMove | null;
}

/** Consecutive files of one timeline with the same fate, for `retention plan`. */
export interface PlannedWalRange {
  timeline: Timeline;
  kind: ArchivedWalFile['kind'];
  first: string;
  last: string;
  count: number;
  bytes: number;
  /** receivedAt of the first and last file (null when a file has no Tidemark metadata). */
  from: string | null;
  to: string | null;
  action: 'keep' | 'delete';
  reasons: string[];
  tierMove: WalTierMove | null;
}

export interface WalPlan {
  windowDays: number;
  windowStart: string;
  files: PlannedWalFile[];
  ranges: PlannedWalRange[];
  kept: { count: number; bytes: number };
  deleted: { count: number; bytes: number };
  tierMoves: number;
}

/**
 * The base backups the PITR window needs beyond what the policy keeps, with the reason: the newest restorable
 * base that ended at or before the window's start (a restore to the window's first second replays from it;
 * without one, the oldest restorable base, the earliest point there is), and after a WAL gap the first base
 * restorable past it. Only bases whose WAL reaches their stop LSN count (`reachOf`).
 */
export function windowHolds(
  bases: readonly BaseBackupPoint[],
  state: ArchiveState,
  windowDays: number,
  now: Date,
): Map<string, string> {
  const windowStart = now.getTime() - windowDays * DAY_MS;
  const reaches = bases
    .map((base) => reachOf(base, state))
    .filter((reach) => reach.consistent)
    .sort((a, b) => a.from.getTime() - b.from.getTime());
  const holds = new Map<string, string>();
  // Insurance against a misread archive (an unreadable history, a timeline the planner follows wrongly): the
  // newest base that ended before the window's start stays even when its WAL looks incomplete. It costs one base
  // backup for at most a backup interval; deleting the one base a restore in the window needs costs the window.
  const newestBefore = [...bases]
    .filter((base) => Date.parse(base.physical.stoppedAt) <= windowStart)
    .sort((a, b) => Date.parse(a.physical.stoppedAt) - Date.parse(b.physical.stoppedAt))
    .at(-1);
  if (newestBefore && !reaches.some((reach) => reach.base.backupId === newestBefore.backupId)) {
    holds.set(
      newestBefore.backupId,
      `covers the start of the ${windowDays}-day PITR window (though the archive does not reach its stop LSN)`,
    );
  }
  const before = reaches.filter((reach) => reach.from.getTime() <= windowStart);
  const anchor = before.at(-1) ?? reaches[0];
  if (!anchor) return holds;
  holds.set(
    anchor.base.backupId,
    anchor.from.getTime() <= windowStart
      ? `covers the start of the ${windowDays}-day PITR window`
      : `earliest restorable point of the ${windowDays}-day PITR window`,
  );
  let covered = anchor.to.getTime();
  for (const reach of reaches) {
    if (reach.from.getTime() <= anchor.from.getTime() || reach.to.getTime() <= covered) continue;
    holds.set(
      reach.base.backupId,
      `first restorable point after a WAL gap in the ${windowDays}-day PITR window`,
    );
    covered = reach.to.getTime();
  }
  return holds;
}

interface Holding {
  holder: WalHolder;
  startSegno: bigint;
  stopSegno: bigint;
  startLsn: Lsn;
}

/**
 * Decides, for every file under `<targetId>/wal/`, whether it stays and whether it moves to a colder tier. A
 * segment stays when a kept base needs it (see {@link WalHold}) or it was received inside the window; history
 * files always stay (small, and every restore across a switch needs them); a partial whose segment is archived
 * complete goes. WAL follows the warmest of the bases holding it down the tiers, but WAL a restore inside the
 * window may replay never goes to Archive (unreadable without hours of rehydration). Pure.
 */
export function planWalRetention(input: WalRetentionInput): WalPlan {
  const { files, histories, windowDays, now } = input;
  const windowStart = now.getTime() - windowDays * DAY_MS;
  const segmentBytes = input.holders[0]?.physical.walSegmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const holdings: Holding[] = input.holders
    .filter((holder) => holder.hold !== 'none')
    .map((holder) => {
      const startLsn = parseLsn(holder.physical.startLsn);
      const tl = holder.physical.timeline;
      return {
        holder,
        startLsn,
        startSegno: segmentOf(startLsn, tl, segmentBytes).segno,
        stopSegno: segmentOf(parseLsn(holder.physical.stopLsn), tl, segmentBytes).segno,
      };
    });
  const complete = new Set(
    files.filter((file) => file.kind === 'segment').map((file) => `${String(file.timeline)}/${file.file}`),
  );
  const window = `inside the ${windowDays}-day window`;
  const planned = files.map((file): PlannedWalFile => {
    const base = {
      blobName: file.blobName,
      timeline: file.timeline,
      file: file.file,
      kind: file.kind,
      bytes: file.compressedBytes,
      receivedAt: file.metadata?.receivedat ?? null,
      tier: file.tier ?? null,
      tierMove: null,
    };
    const keep = (reasons: string[], tierMove: WalTierMove | null = null): PlannedWalFile => ({
      ...base,
      action: 'keep',
      reasons,
      tierMove,
    });
    const drop = (reason: string): PlannedWalFile => {
      // A locked blob cannot be deleted before its lock runs out (Azure refuses): kept, saying why and until when.
      const block = deletionBlock(protectionOf(file), now);
      if (block !== undefined) return keep([block, `then ${reason}`]);
      return { ...base, action: 'delete', reasons: [reason] };
    };
    if (file.kind === 'history') return keep(['timeline history']);
    if (!file.metadata) return keep(['not written by Tidemark (no WAL metadata): left alone']);
    if (file.kind === 'partial' && complete.has(`${String(file.timeline)}/${file.file}`)) {
      return drop('partial of a segment archived complete');
    }
    const segno = parseSegmentFileName(file.file, segmentBytes)?.segno;
    if (segno === undefined) return keep(['not a segment name at this segment size: left alone']);
    const onLine = holdings.filter((h) => leadsTo(h, file.timeline, histories));
    const onward = onLine.filter((h) => h.holder.hold === 'onward' && segno >= h.startSegno);
    const pinned = onLine.filter(
      (h) => h.holder.hold === 'range' && segno >= h.startSegno && segno <= h.stopSegno,
    );
    const inWindow = Date.parse(file.metadata.receivedat) >= windowStart;
    const reasons: string[] = [];
    // The newest base it follows is the one it belongs to (the older ones reach it through the newer's WAL too).
    const owner = onward.reduce<Holding | undefined>(
      (newest, h) => (!newest || h.startSegno > newest.startSegno ? h : newest),
      undefined,
    );
    if (owner) reasons.push(`needed by base ${owner.holder.backupId}`);
    for (const h of pinned) reasons.push(`pinned base ${h.holder.backupId}`);
    if (inWindow) reasons.push(window);
    if (reasons.length === 0) return drop(deletionReason(file.timeline, holdings, histories, windowDays));
    const holders = [...onward, ...pinned].map((h) => h.holder);
    const servesWindow = inWindow || holders.some((holder) => holder.servesWindow);
    return keep(reasons, file.kind === 'segment' ? tierMoveOf(file.tier, holders, servesWindow) : null);
  });
  return summarise(planned, segmentBytes, windowDays, windowStart);
}

function protectionOf(file: ArchivedWalFile): BlobProtection | undefined {
  if (file.immutability === undefined && file.legalHold !== true) return undefined;
  return {
    until: file.immutability?.until ?? null,
    mode: file.immutability?.mode ?? null,
    legalHold: file.legalHold === true,
  };
}

/** Whether a base's WAL continues on `timeline`: its own, or one branching off its line after the base started. */
function leadsTo(
  holding: Holding,
  timeline: Timeline,
  histories: ReadonlyMap<Timeline, readonly TimelineSwitch[]>,
): boolean {
  const own = holding.holder.physical.timeline;
  if (timeline === own) return true;
  if (timeline < own) return false;
  const history = histories.get(timeline);
  // Without its history the timeline's ancestry is unknown: keep its WAL rather than guess.
  if (!history) return true;
  const branch = history.find((entry) => entry.parent === own);
  return branch !== undefined && branch.switchLsn >= holding.startLsn;
}

function deletionReason(
  timeline: Timeline,
  holdings: readonly Holding[],
  histories: ReadonlyMap<Timeline, readonly TimelineSwitch[]>,
  windowDays: number,
): string {
  const older = `older than the ${windowDays}-day window`;
  const onward = holdings.filter((h) => h.holder.hold === 'onward');
  if (onward.length === 0) return `${older}, and no kept base backup needs it`;
  const onLine = onward.filter((h) => leadsTo(h, timeline, histories));
  if (onLine.length === 0) return `${older}, on timeline ${timeline}, which no kept base backup leads to`;
  const oldest = onLine.reduce((a, b) => (b.startSegno < a.startSegno ? b : a));
  return `${older} and than the start of base ${oldest.holder.backupId}, the oldest kept`;
}

function isAccessTier(tier: string | null | undefined): tier is AccessTier {
  return ACCESS_TIERS.includes(tier as AccessTier);
}

/** The warmest tier of the bases holding a segment; never Archive while a restore in the window may need it. */
function tierMoveOf(
  current: string | undefined,
  holders: readonly WalHolder[],
  servesWindow: boolean,
): WalTierMove | null {
  if (!isAccessTier(current)) return null;
  const tiers = holders.map((holder) => holder.tier).filter(isAccessTier);
  if (tiers.length === 0) return null;
  let to = tiers.reduce((a, b) => (ACCESS_TIERS.indexOf(b) < ACCESS_TIERS.indexOf(a) ? b : a));
  if (servesWindow && to === 'Archive') to = 'Cold';
  return ACCESS_TIERS.indexOf(to) > ACCESS_TIERS.indexOf(current) ? { from: current, to } : null;
}

function summarise(
  files: PlannedWalFile[],
  segmentBytes: number,
  windowDays: number,
  windowStart: number,
): WalPlan {
  const total = (action: 'keep' | 'delete') => {
    const chosen = files.filter((file) => file.action === action);
    return { count: chosen.length, bytes: chosen.reduce((n, file) => n + file.bytes, 0) };
  };
  return {
    windowDays,
    windowStart: new Date(windowStart).toISOString(),
    files,
    ranges: rangesOf(files, segmentBytes),
    kept: total('keep'),
    deleted: total('delete'),
    tierMoves: files.filter((file) => file.tierMove).length,
  };
}

const KIND_ORDER = { segment: 0, partial: 1, history: 2 } as const;

/** Groups files (sorted by timeline, kind, name) into runs of consecutive names with the same decision. */
function rangesOf(files: readonly PlannedWalFile[], segmentBytes: number): PlannedWalRange[] {
  const sorted = [...files].sort(
    (a, b) =>
      a.timeline - b.timeline ||
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0),
  );
  const ranges: PlannedWalRange[] = [];
  let previous: PlannedWalFile | undefined;
  for (const file of sorted) {
    const range = ranges.at(-1);
    const continues =
      range !== undefined &&
      previous !== undefined &&
      previous.timeline === file.timeline &&
      previous.kind === file.kind &&
      previous.action === file.action &&
      previous.reasons.join('\n') === file.reasons.join('\n') &&
      sameMove(previous.tierMove, file.tierMove) &&
      (file.kind !== 'segment' || follows(previous.file, file.file, segmentBytes));
    if (continues) {
      range.last = file.file;
      range.count += 1;
      range.bytes += file.bytes;
      range.to = file.receivedAt;
    } else {
      ranges.push({
        timeline: file.timeline,
        kind: file.kind,
        first: file.file,
        last: file.file,
        count: 1,
        bytes: file.bytes,
        from: file.receivedAt,
        to: file.receivedAt,
        action: file.action,
        reasons: file.reasons,
        tierMove: file.tierMove,
      });
    }
    previous = file;
  }
  return ranges;
}

function sameMove(a: WalTierMove | null, b: WalTierMove | null): boolean {
  return a?.from === b?.from && a?.to === b?.to;
}

/** Whether segment `next` comes right after `previous` (a missing segment between them splits a range). */
function follows(previous: string, next: string, segmentBytes: number): boolean {
  const a = parseSegmentFileName(previous, segmentBytes);
  const b = parseSegmentFileName(next, segmentBytes);
  return a !== null && b !== null && b.segno === a.segno + 1n;
}
