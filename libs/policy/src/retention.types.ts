import type { AccessTier, BackupStatus } from '@tidemark/manifest';

/** What the retention engine needs to know of one backup (built from its manifest). */
export interface BackupSnapshot {
  backupId: string;
  /** Start time of the backup (encoded in the backup id). */
  takenAt: Date;
  status: BackupStatus;
  pinned: boolean;
  /** Current access tier of the remote artifact; null when no artifact reached Blob Storage. */
  tier: AccessTier | null;
  /** When the artifact entered its current tier (Azure's early-deletion clock); null when unknown or no artifact. */
  tierSince: Date | null;
  sizeBytes: number;
  /**
   * Backups planned apart (each database of a server target has its own GFS slots, newest verified, minKeep).
   * Undefined for a target with one kind of backup.
   */
  group?: string;
  /** Chain members whose artifacts this backup needs to be restored: kept as long as it is. */
  dependsOn?: readonly string[];
}

export interface TierChange {
  from: AccessTier;
  to: AccessTier;
  /** e.g. `age 95 d ≥ coldAfterDays 90` */
  reason: string;
}

export interface RetentionDecision {
  backupId: string;
  action: 'keep' | 'delete';
  /**
   * Every reason a backup is kept — `keepLast`, `daily 2026-11-03`, `weekly 2026-W44`, `monthly 2026-11`,
   * `yearly 2026`, `pinned`, `newest verified`, `minKeep`, `in progress`, `grace period`, `chain of <backupId>` —
   * or the reason it goes:
   * `expired`, `failed, grace period over`, `corrupt, grace period over`.
   */
  reasons: string[];
  /** Keep only: move the artifact to this tier now. */
  tier: TierChange | null;
  /** Why a tier move that is due by age was not made (an early-deletion minimum), for `retention plan`. */
  tierNote?: string;
}
