import { mapLimit } from '@tidemark/concurrency';
import type { EventPublisher } from '@tidemark/events';
import { ACCESS_TIERS, type Manifest } from '@tidemark/manifest';
import type { TidemarkMetrics } from '@tidemark/observability';
import { parseSegmentFileName, type PhysicalBackup } from '@tidemark/wal';
import {
  type ArchivedWalFile,
  type ContinuityProblem,
  type ContinuityReport,
  type WalArchive,
  WalArchiveError,
} from '@tidemark/wal-archive';

/** As the `tidemark.wal.gap` schema says: the first 50 problems listed, all of them counted. */
export const MAX_LISTED_PROBLEMS = 50;
const VERIFY_CONCURRENCY = 2;

export interface ContinuityWatchOptions {
  /** The target's manifests (Catalog.list). */
  manifests(targetId: string): Promise<Manifest[]>;
  archiveOf(targetId: string): WalArchive;
  events: Pick<EventPublisher, 'emit'>;
  metrics: TidemarkMetrics;
  /** The targets whose lease this replica holds now: only the streaming replica checks a target. */
  held(): string[];
  intervalMs: number;
  log?(line: string): void;
}

export interface ContinuityOutcome {
  /** null when the target has no kept base backup to start from yet. */
  report: ContinuityReport | null;
  /** The segments and history files whose sha256 was checked in this pass (others were checked before). */
  verified: number;
}

/** The oldest base backup retention keeps: where a restore can start, so where the archive must be whole from. */
export function oldestKeptBase(manifests: readonly Manifest[]): PhysicalBackup | null {
  const kept = manifests.filter(
    (m) => (m.status === 'uploaded' || m.status === 'verified') && m.deletion === null && m.content.physical,
  );
  kept.sort((a, b) => a.backupId.localeCompare(b.backupId));
  return kept[0]?.content.physical ?? null;
}

/**
 * The archiver's WAL continuity check: for each target it streams, once after start and then every interval,
 * walks the archive from the oldest kept base backup's start to the newest segment, downloads every file it has
 * not checked before (segments never change, so each is read once per process; a rewritten blob has a new
 * modification time and is read again), and reports each gap, missing history file or checksum mismatch as one
 * `tidemark.wal.gap`. It also refreshes `tidemark_wal_archive_bytes` from the listing.
 */
export class ContinuityWatch {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly checked = new Set<string>();

  constructor(private readonly options: ContinuityWatchOptions) {}

  start(): void {
    this.schedule();
    this.timer = setInterval(() => {
      this.schedule();
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    this.running = this.running.then(async () => {
      for (const targetId of this.options.held()) {
        await this.check(targetId).catch((error: unknown) => {
          this.options.log?.(`[archiver ${targetId}] continuity check failed: ${describe(error)}`);
        });
      }
    });
  }

  async check(targetId: string): Promise<ContinuityOutcome> {
    const archive = this.options.archiveOf(targetId);
    const files = await archive.list(targetId);
    this.recordBytes(targetId, files);
    const base = oldestKeptBase(await this.options.manifests(targetId));
    if (!base) return { report: null, verified: 0 };
    const segmentBytes = base.walSegmentBytes;
    const report = await archive.checkContinuity(
      targetId,
      { timeline: base.timeline, lsn: base.startLsn },
      { segmentBytes },
    );
    const from = parseSegmentFileName(report.checkedFrom, segmentBytes)?.segno ?? 0n;
    const toVerify = files.filter((file) => this.needsCheck(file, from, segmentBytes));
    const mismatches = await mapLimit(toVerify, VERIFY_CONCURRENCY, (file) => this.verify(archive, file));
    const problems = [...report.problems, ...mismatches.filter((p): p is ContinuityProblem => p !== null)];
    if (problems.length > 0) await this.reportGap(targetId, { ...report, problems });
    return { report: { ...report, problems }, verified: toVerify.length };
  }

  private needsCheck(file: ArchivedWalFile, from: bigint, segmentBytes: number): boolean {
    if (file.kind === 'partial' || !file.metadata || this.checked.has(checkKey(file))) return false;
    if (file.kind === 'history') return true;
    const segment = parseSegmentFileName(file.file, segmentBytes);
    return segment !== null && segment.segno >= from;
  }

  private async verify(archive: WalArchive, file: ArchivedWalFile): Promise<ContinuityProblem | null> {
    try {
      await archive.verify(file);
      this.checked.add(checkKey(file));
      return null;
    } catch (error) {
      if (!(error instanceof WalArchiveError)) throw error;
      const kind = error.code === 'checksum-mismatch' ? 'checksum-mismatch' : 'unreadable';
      return { kind, timeline: file.timeline, file: file.file, detail: error.message };
    }
  }

  private async reportGap(targetId: string, report: ContinuityReport): Promise<void> {
    const { problems, checkedFrom, checkedTo } = report;
    this.options.log?.(
      `[archiver ${targetId}] WAL continuity: ${String(problems.length)} problem(s) from ${checkedFrom} to ${checkedTo}, first: ${problems[0]?.kind ?? ''} ${problems[0]?.file ?? ''}`,
    );
    await this.options.events.emit('tidemark.wal.gap', targetId, undefined, {
      problems: problems.slice(0, MAX_LISTED_PROBLEMS),
      problemCount: problems.length,
      checkedFrom,
      checkedTo,
    });
  }

  private recordBytes(targetId: string, files: readonly ArchivedWalFile[]): void {
    for (const tier of ACCESS_TIERS) {
      const bytes = files
        .filter((file) => file.tier === tier)
        .reduce((sum, file) => sum + file.compressedBytes, 0);
      this.options.metrics.walArchiveBytes.set({ target: targetId, tier }, bytes);
    }
  }
}

function checkKey(file: ArchivedWalFile): string {
  return `${file.blobName}@${file.lastModified.toISOString()}:${file.metadata?.sha256 ?? ''}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}
