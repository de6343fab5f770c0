import { forEachLimit } from '@tidemark/concurrency';
import { errorData } from '@tidemark/events';
import { ACCESS_TIERS, type AccessTier } from '@tidemark/manifest';
import type { BlobStore } from '@tidemark/storage';
import { planWalRetention, type PlannedWalFile, type WalPlan, type WalRetentionInput } from './wal-retention';

export interface WalFailure {
  blobName: string;
  step: 'delete-wal' | 'tier-wal';
  message: string;
}

export interface WalReport {
  /** WAL blobs deleted (or, in a dry run, that would be). */
  deleted: string[];
  tiered: { blobName: string; from: AccessTier; to: AccessTier }[];
  kept: number;
  bytesFreed: number;
  /** Bytes of the WAL archive per access tier after the run. */
  bytesPerTier: Record<AccessTier, number>;
  failures: WalFailure[];
}

/** Requests in flight at once; WAL blobs are many and small. */
const WAL_CONCURRENCY = 16;

/**
 * Deletes and moves WAL blobs: only what both the shown plan and the plan made again from `input` (what the run
 * really did to the base backups) say, so a failed base deletion or tier move never costs the WAL it needs.
 * Every blob is its own step: a failure is recorded and the rest goes on; a blob not deleted is simply kept, and
 * the next run tries again.
 */
export async function applyWalPlan(
  store: BlobStore,
  shown: WalPlan,
  input: WalRetentionInput,
  dryRun: boolean,
): Promise<WalReport> {
  const now = new Map(planWalRetention(input).files.map((file) => [file.blobName, file]));
  const report: WalReport = {
    deleted: [],
    tiered: [],
    kept: 0,
    bytesFreed: 0,
    bytesPerTier: Object.fromEntries(ACCESS_TIERS.map((tier) => [tier, 0])) as Record<AccessTier, number>,
    failures: [],
  };
  const remaining = new Map<string, { bytes: number; tier: string | null }>();
  const deletions: PlannedWalFile[] = [];
  const moves: PlannedWalFile[] = [];
  for (const file of shown.files) {
    const again = now.get(file.blobName);
    remaining.set(file.blobName, { bytes: file.bytes, tier: file.tier });
    if (file.action === 'delete' && again?.action === 'delete') deletions.push(file);
    else if (file.tierMove && again?.tierMove?.to === file.tierMove.to) moves.push(file);
  }
  await forEachLimit(deletions, WAL_CONCURRENCY, async (file) => {
    try {
      if (!dryRun) await store.delete(file.blobName);
    } catch (error) {
      report.failures.push({
        blobName: file.blobName,
        step: 'delete-wal',
        message: errorData(error).message,
      });
      return;
    }
    remaining.delete(file.blobName);
    report.deleted.push(file.blobName);
    report.bytesFreed += file.bytes;
  });
  await forEachLimit(moves, WAL_CONCURRENCY, async (file) => {
    const move = file.tierMove;
    if (!move) return;
    try {
      if (!dryRun) await store.setTier(file.blobName, move.to);
    } catch (error) {
      report.failures.push({ blobName: file.blobName, step: 'tier-wal', message: errorData(error).message });
      return;
    }
    remaining.set(file.blobName, { bytes: file.bytes, tier: move.to });
    report.tiered.push({ blobName: file.blobName, from: move.from, to: move.to });
  });
  for (const { bytes, tier } of remaining.values()) {
    if (ACCESS_TIERS.includes(tier as AccessTier)) report.bytesPerTier[tier as AccessTier] += bytes;
  }
  report.kept = remaining.size;
  report.deleted.sort();
  report.tiered.sort((a, b) => a.blobName.localeCompare(b.blobName));
  report.failures.sort((a, b) => a.blobName.localeCompare(b.blobName));
  return report;
}
