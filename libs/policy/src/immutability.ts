import type { ImmutabilityMode, ImmutabilitySettings, Policy, TidemarkConfig } from './config.schema';
import { planWithHorizons } from './retention';
import type { BackupSnapshot, RetentionDecision } from './retention.types';

const DAY_MS = 86_400_000;

/** The version-level WORM protection one blob carries (as Azure reports it, or as recorded in the manifest). */
export interface BlobProtection {
  /** Expiry of the time-based policy; null without one. */
  until: Date | null;
  mode: ImmutabilityMode | null;
  legalHold: boolean;
}

/** The protection a backup's artifact and manifest must carry. */
export interface RequiredProtection {
  until: Date;
  mode: ImmutabilityMode;
  legalHold: boolean;
}

/** What retention must change on a kept backup's blobs so they stay protected as long as the backup is kept. */
export interface ProtectionChange {
  backupId: string;
  required: RequiredProtection;
  /** The new expiry when the policy must be extended (never shortened: a locked one cannot be). */
  extendTo?: Date;
  /** Set for a pinned backup, cleared for one no longer pinned. */
  legalHold?: 'set' | 'clear';
}

/** The immutability of a policy's backups: its own override, else storage.immutability, else none. */
export function immutabilityOf(
  config: Pick<TidemarkConfig, 'storage'>,
  policy: Pick<Policy, 'immutability'>,
): ImmutabilitySettings | undefined {
  return policy.immutability ?? config.storage.immutability;
}

/** Where the configuration asks for immutable backups (storage.immutability, a policy's own); empty when nowhere. */
export function immutabilityPaths(config: Pick<TidemarkConfig, 'storage' | 'policies'>): string[] {
  return [
    ...(config.storage.immutability ? ['storage.immutability'] : []),
    ...Object.entries(config.policies)
      .filter(([, policy]) => policy.immutability !== undefined)
      .map(([name]) => `policies.${name}.immutability`),
  ];
}

/**
 * The protection a backup gets when it is committed: at least `days` from now, and at least its planned expiry,
 * the time GFS retention keeps a fresh backup for: its keepLast place (about one backup a day) and its daily
 * slot. Weekly, monthly and yearly slots are not known yet (a later backup may take them); retention extends the
 * lock when a backup is promoted to one. A pinned backup also gets a legal hold.
 */
export function commitProtection(
  takenAt: Date,
  pinned: boolean,
  policy: Pick<Policy, 'retention'>,
  settings: ImmutabilitySettings,
  now: Date,
): RequiredProtection {
  const remote = policy.retention.remote;
  const plannedDays = Math.max(remote.keepLast, remote.daily);
  const until = Math.max(now.getTime() + settings.days * DAY_MS, takenAt.getTime() + plannedDays * DAY_MS);
  return { until: new Date(until), mode: settings.mode, legalHold: pinned };
}

/**
 * The lock a WAL segment or history file gets when it is archived: at least `days` after it was received, and
 * at least the PITR window, inside which retention keeps it anyway. What a kept base backup needs beyond that
 * (a monthly's own WAL) is left to retention, which never deletes a blob that is still locked. Partials are
 * never locked: each is replaced as its segment fills.
 */
export function walProtection(
  receivedAt: Date,
  windowDays: number,
  settings: ImmutabilitySettings,
): { until: Date; mode: ImmutabilityMode } {
  const days = Math.max(settings.days, windowDays);
  return { until: new Date(receivedAt.getTime() + days * DAY_MS), mode: settings.mode };
}

/** The reason a blob cannot be deleted now, or undefined when nothing protects it. */
export function deletionBlock(protection: BlobProtection | undefined, now: Date): string | undefined {
  if (protection === undefined) return undefined;
  if (protection.legalHold) return 'legal hold';
  if (protection.until !== null && protection.until.getTime() > now.getTime()) {
    return `locked until ${protection.until.toISOString()}`;
  }
  return undefined;
}

/** A retention plan under immutable storage: decisions that respect locks, and the lock changes to make. */
export interface ImmutableRetentionPlan {
  decisions: RetentionDecision[];
  changes: ProtectionChange[];
}

/**
 * {@link planWithHorizons} on an immutable container. A backup whose blobs are still protected is never deleted:
 * its decision becomes keep with the reason `locked until <t>` (or `legal hold`). A kept backup's lock is
 * extended to what keeps it (its horizon, at least `days` after it was taken) when that is later than its lock
 * and still ahead;
 * a pinned backup gets a legal hold, an unpinned one loses it. `protection` is what each backup's blobs carry
 * now (by backupId); a backup without an entry is taken to carry none.
 */
export function planImmutableRetention(
  backups: readonly BackupSnapshot[],
  protection: ReadonlyMap<string, BlobProtection>,
  policy: Policy,
  settings: ImmutabilitySettings,
  now: Date,
): ImmutableRetentionPlan {
  const byId = new Map(backups.map((backup) => [backup.backupId, backup]));
  const decisions: RetentionDecision[] = [];
  const changes: ProtectionChange[] = [];
  for (const { decision, keptUntil } of planWithHorizons(backups, policy, now)) {
    const backup = byId.get(decision.backupId);
    const current = protection.get(decision.backupId);
    if (backup === undefined) continue;
    if (decision.action === 'delete') {
      const block = deletionBlock(current, now);
      decisions.push(block === undefined ? decision : lockedKeep(decision, block));
      continue;
    }
    decisions.push(decision);
    // Nothing of a backup still in progress is committed yet; the commit protects it.
    if (decision.reasons.includes('in progress')) continue;
    const change = protectionChange(backup, keptUntil, current, settings, now);
    if (change !== undefined) changes.push(change);
  }
  return { decisions, changes };
}

function lockedKeep(decision: RetentionDecision, block: string): RetentionDecision {
  return {
    backupId: decision.backupId,
    action: 'keep',
    reasons: [block, `then ${decision.reasons.join(', ')}`],
    tier: null,
  };
}

function protectionChange(
  backup: BackupSnapshot,
  keptUntil: Date | undefined,
  current: BlobProtection | undefined,
  settings: ImmutabilitySettings,
  now: Date,
): ProtectionChange | undefined {
  const minimum = backup.takenAt.getTime() + settings.days * DAY_MS;
  const wanted = Math.max(minimum, keptUntil?.getTime() ?? 0);
  const held = current?.until?.getTime() ?? Number.NEGATIVE_INFINITY;
  const until = Math.max(wanted, held);
  const change: ProtectionChange = {
    backupId: backup.backupId,
    required: { until: new Date(until), mode: current?.mode ?? settings.mode, legalHold: backup.pinned },
  };
  // A lock that would already have run out protects nothing (and Azure takes no expiry in the past).
  if (wanted > held && wanted > now.getTime()) change.extendTo = new Date(wanted);
  const hasHold = current?.legalHold ?? false;
  if (backup.pinned && !hasHold) change.legalHold = 'set';
  if (!backup.pinned && hasHold) change.legalHold = 'clear';
  return change.extendTo === undefined && change.legalHold === undefined ? undefined : change;
}

/**
 * Policies whose retention keeps backups for less time than their lock: blobs would outlive what the policy
 * keeps (Azure refuses to delete them until the lock runs out). The longest a policy could keep a backup by its
 * GFS rules is compared; open-ended rules (pinned, newest verified, minKeep) are not.
 */
export function immutabilityWarnings(config: Pick<TidemarkConfig, 'storage' | 'policies'>): {
  path: string;
  message: string;
}[] {
  const warnings: { path: string; message: string }[] = [];
  for (const [name, policy] of Object.entries(config.policies)) {
    const settings = immutabilityOf(config, policy);
    if (settings === undefined) continue;
    const keptDays = longestGfsDays(policy);
    if (keptDays >= settings.days) continue;
    const source =
      policy.immutability === undefined ? 'storage.immutability' : `policies.${name}.immutability`;
    warnings.push({
      path: `policies.${name}.retention.remote`,
      message: `keeps backups at most ~${keptDays} d, shorter than the ${settings.days} d lock of ${source}: their blobs outlive the policy until the lock runs out`,
    });
  }
  return warnings;
}

function longestGfsDays(policy: Pick<Policy, 'retention'>): number {
  const remote = policy.retention.remote;
  return Math.max(
    remote.keepLast,
    remote.daily,
    remote.weekly * 7,
    Math.ceil(remote.monthly * 30.44),
    Math.ceil(remote.yearly * 365.25),
  );
}
