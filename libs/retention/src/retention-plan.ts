import { Inject, Injectable, Optional } from '@nestjs/common';
import { Catalog, type UnreadableManifest } from '@tidemark/catalog';
import { TIDEMARK_CONFIG } from '@tidemark/config';
import {
  ACCESS_TIERS,
  backupIdTime,
  displayStatus,
  type AccessTier,
  type BackupStatus,
  type Manifest,
} from '@tidemark/manifest';
import {
  immutabilityOf,
  planImmutableRetention,
  planRetention,
  policyOf,
  targetById,
  type BackupSnapshot,
  type BlobProtection,
  type Policy,
  type RetentionDecision,
  type TidemarkConfig,
  type TierChange,
} from '@tidemark/policy';
import { BLOB_STORE, LOCAL_TIER, type BlobStore, type LocalTier } from '@tidemark/storage';
import { WalArchive } from '@tidemark/wal-archive';
import { basePointOf, isPhysicalTarget, pitrWindowDays, readWalListing, type WalListing } from './wal-state';
import {
  planWalRetention,
  windowHolds,
  type WalHold,
  type WalHolder,
  type WalPlan,
  type WalRetentionInput,
} from './wal-retention';

const DAY_MS = 24 * 3600 * 1000;

/** One remote backup in a plan: what the policy says of it and why. */
export interface PlannedBackup {
  backupId: string;
  takenAt: string;
  ageDays: number;
  status: BackupStatus | 'deleting';
  pinned: boolean;
  tier: AccessTier | null;
  sizeBytes: number;
  action: 'keep' | 'delete';
  reasons: string[];
  /** A move to a colder tier that is due now. */
  tierMove: TierChange | null;
  /** Why a tier move due by age is not made yet. */
  tierNote?: string;
  /** On an immutable container: the lock its blobs carry, and its extension when the backup is kept longer. */
  lock?: PlannedLock;
}

export interface PlannedLock {
  mode: 'unlocked' | 'locked';
  /** When the lock runs out (its blobs can be deleted from then on); null when it has none yet. */
  until: string | null;
  /** Extend the lock to this time (e.g. promoted to a monthly): never shortened. */
  extendTo?: string;
}

/** One backup directory in the local tier. */
export interface PlannedLocalCopy {
  backupId: string;
  ageDays: number;
  action: 'keep' | 'remove';
  reason: string;
  /** Kept although older than `local.days`: an operator should look at it (e.g. it never reached Blob Storage). */
  attention: boolean;
}

export interface RetentionPlanView {
  targetId: string;
  policy: string;
  now: string;
  /** Oldest first. */
  backups: PlannedBackup[];
  local: PlannedLocalCopy[];
  /** Manifests that could not be parsed: never touched, only reported. */
  unreadable: UnreadableManifest[];
  /** Physical targets: the WAL archive's ranges kept, moved and deleted, and why; null for other targets. */
  wal: WalPlanView | null;
}

export type WalPlanView = Omit<WalPlan, 'files'> & {
  /** History files that could not be read: their timelines' WAL is kept (ancestry unknown). */
  unreadableHistories: WalListing['unreadableHistories'];
};

/** The plan together with the manifests it was made from, for carrying it out. */
export interface Survey {
  view: RetentionPlanView;
  manifests: Map<string, Manifest>;
  /** The etag each manifest was listed at, by backup id (a mark writes from it without reading again). */
  etags: ReadonlyMap<string, string>;
  /** Physical targets: the WAL plan's input and its decision per file, for carrying it out. */
  wal: { input: WalRetentionInput; plan: WalPlan } | null;
}

const RESTORABLE: ReadonlySet<string> = new Set(['verified', 'dumping', 'dumped', 'uploaded']);

/**
 * How a base backup holds WAL once planned (see WalHold). The base that serves the PITR window holds all WAL after
 * it while restorable (verified, or still on its way there: the verifier replays its WAL); WAL received inside the
 * window is kept anyway. Any other kept base (a monthly, a yearly, a pinned one) holds its own range, so it stays
 * restorable to its end and a yearly rule does not keep a year of WAL. Failed or corrupt bases in their grace
 * period, and bases going, hold nothing unless pinned.
 */
export function walHoldOf(
  planned: Pick<PlannedBackup, 'action' | 'status' | 'pinned' | 'reasons'>,
  servesWindow: boolean,
): WalHold {
  if (planned.action !== 'keep') return 'none';
  const policyReasons = planned.reasons.filter((reason) => reason !== 'pinned' && reason !== 'grace period');
  if (RESTORABLE.has(planned.status) && policyReasons.length > 0) return servesWindow ? 'onward' : 'range';
  return planned.pinned ? 'range' : 'none';
}

export function snapshotOf(
  manifest: Manifest,
  byId: ReadonlyMap<string, Manifest> = new Map(),
): BackupSnapshot {
  const remote = manifest.locations.remote;
  return {
    backupId: manifest.backupId,
    takenAt: backupIdTime(manifest.backupId),
    status: manifest.status,
    pinned: manifest.pinned,
    tier: remote?.tier ?? null,
    tierSince: remote?.tierSince ? new Date(remote.tierSince) : null,
    sizeBytes: manifest.artifact.size ?? 0,
    ...(manifest.run
      ? { group: manifest.run.role === 'globals' ? 'globals' : `database ${manifest.target.database}` }
      : {}),
    ...(manifest.chain?.parent ? { dependsOn: chainAncestors(manifest, byId) } : {}),
  };
}

/** Every earlier member of the manifest's chain, found by walking parents (a missing link ends the walk). */
function chainAncestors(manifest: Manifest, byId: ReadonlyMap<string, Manifest>): string[] {
  const ancestors: string[] = [];
  let parent = manifest.chain?.parent;
  while (parent && !ancestors.includes(parent)) {
    ancestors.push(parent);
    parent = byId.get(parent)?.chain?.parent;
  }
  return ancestors;
}

/** Bytes in Blob Storage per access tier of the backups in `manifests`. */
export function bytesPerTier(manifests: Iterable<Manifest>): Record<AccessTier, number> {
  const bytes = Object.fromEntries(ACCESS_TIERS.map((tier) => [tier, 0])) as Record<AccessTier, number>;
  for (const m of manifests) {
    const tier = m.locations.remote?.tier;
    if (tier) bytes[tier] += m.artifact.size ?? 0;
  }
  return bytes;
}

/**
 * Works out what retention would do to one target, from the catalog (Blob Storage, never Redis) and the local tier.
 * Reads only: `RetentionService.apply` carries a survey out.
 */
@Injectable()
export class RetentionPlanner {
  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: TidemarkConfig,
    private readonly catalog: Catalog,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
    // Needed for physical targets only (their WAL archive); a planner without it refuses to plan one.
    @Optional() @Inject(BLOB_STORE) private readonly store?: BlobStore,
  ) {}

  policyFor(targetId: string): { name: string; policy: Policy } {
    const target = targetById(this.config, targetId);
    return { name: target.policy, policy: policyOf(this.config, target) };
  }

  async plan(targetId: string, now = new Date()): Promise<RetentionPlanView> {
    return (await this.survey(targetId, now)).view;
  }

  async survey(targetId: string, now: Date): Promise<Survey> {
    const { name, policy } = this.policyFor(targetId);
    const target = targetById(this.config, targetId);
    const listing = await this.catalog.list(targetId);
    const manifests = new Map(listing.manifests.map((m) => [m.backupId, m]));
    // A backup whose deletion has started is no longer a candidate for anything: it is finished off.
    const active = listing.manifests.filter((m) => !m.deletion);
    const physical = isPhysicalTarget(target) ? await this.physicalContext(targetId, active, now) : null;
    const { decisions, locks } = this.decide(active, manifests, policy, now);
    const backups = listing.manifests.map((m): PlannedBackup => {
      const planned = withLock(plannedBackup(m, decisions.get(m.backupId), now), locks.get(m.backupId));
      const hold = physical?.holds.get(m.backupId);
      return hold === undefined ? planned : withWindowHold(planned, hold);
    });
    const local = await this.planLocal(targetId, policy.retention.local.days, manifests, now);
    let wal: Survey['wal'] = null;
    if (physical) {
      const input: WalRetentionInput = {
        files: physical.listing.files,
        histories: physical.listing.state.histories,
        holders: walHoldersOf(backups, manifests, physical.holds),
        windowDays: physical.windowDays,
        now,
      };
      wal = { input, plan: planWalRetention(input) };
    }
    return {
      view: {
        targetId,
        policy: name,
        now: now.toISOString(),
        backups,
        local,
        unreadable: listing.unreadable,
        wal: wal && {
          ...withoutFiles(wal.plan),
          unreadableHistories: physical?.listing.unreadableHistories ?? [],
        },
      },
      manifests,
      etags: listing.etags,
      wal,
    };
  }

  /**
   * The policy's decisions; on an immutable container, planned around locks (a locked backup is kept until its
   * lock runs out, a kept one has its lock extended as far as it is kept), from the locks the manifests record.
   */
  private decide(
    active: readonly Manifest[],
    manifests: ReadonlyMap<string, Manifest>,
    policy: Policy,
    now: Date,
  ): { decisions: Map<string, RetentionDecision>; locks: Map<string, PlannedLock> } {
    const snapshots = active.map((m) => snapshotOf(m, manifests));
    const settings = immutabilityOf(this.config, policy);
    if (settings === undefined) {
      const decisions = planRetention(snapshots, policy, now);
      return { decisions: new Map(decisions.map((d) => [d.backupId, d])), locks: new Map() };
    }
    const protection = new Map<string, BlobProtection>();
    for (const m of active) {
      if (m.immutability === undefined) continue;
      const { mode, until } = m.immutability;
      protection.set(m.backupId, { mode, until: new Date(until), legalHold: m.pinned });
    }
    const plan = planImmutableRetention(snapshots, protection, policy, settings, now);
    const locks = new Map<string, PlannedLock>();
    for (const m of active) {
      const current = protection.get(m.backupId);
      locks.set(m.backupId, {
        mode: current?.mode ?? settings.mode,
        until: current?.until?.toISOString() ?? null,
      });
    }
    for (const change of plan.changes) {
      const lock = locks.get(change.backupId);
      if (lock && change.extendTo) lock.extendTo = change.extendTo.toISOString();
    }
    return { decisions: new Map(plan.decisions.map((d) => [d.backupId, d])), locks };
  }

  /** The WAL archive of a physical target and the base backups its PITR window holds. */
  private async physicalContext(targetId: string, active: readonly Manifest[], now: Date) {
    if (!this.store) throw new Error(`retention of physical target ${targetId} needs Blob Storage`);
    const windowDays = pitrWindowDays(targetById(this.config, targetId));
    const listing = await readWalListing(new WalArchive(this.store), targetId);
    const bases = active.filter((m) => m.status === 'verified').flatMap((m) => basePointOf(m) ?? []);
    return { windowDays, listing, holds: windowHolds(bases, listing.state, windowDays, now) };
  }

  /**
   * A local copy older than `local.days` goes only once its remote copy is verified (and not being deleted):
   * nothing is deleted that is not safely elsewhere. Copies that never reached Blob Storage stay, and are reported.
   */
  private async planLocal(
    targetId: string,
    days: number,
    remote: Map<string, Manifest>,
    now: Date,
  ): Promise<PlannedLocalCopy[]> {
    const copies = (await this.local.listBackups()).filter((b) => b.targetId === targetId);
    const planned: PlannedLocalCopy[] = [];
    for (const { backupId } of copies) {
      const ageMs = now.getTime() - backupIdTime(backupId).getTime();
      const entry = { backupId, ageDays: Math.floor(ageMs / DAY_MS) };
      if (ageMs <= days * DAY_MS) {
        planned.push({
          ...entry,
          action: 'keep',
          reason: `younger than local.days ${days}`,
          attention: false,
        });
        continue;
      }
      const m = remote.get(backupId);
      if (!m?.locations.remote) {
        planned.push({ ...entry, action: 'keep', reason: 'never reached Blob Storage', attention: true });
      } else if (m.deletion) {
        planned.push({ ...entry, action: 'keep', reason: 'remote copy is being deleted', attention: true });
      } else if (m.status !== 'verified') {
        planned.push({ ...entry, action: 'keep', reason: `remote copy is ${m.status}`, attention: true });
      } else {
        planned.push({
          ...entry,
          action: 'remove',
          reason: `older than local.days ${days}, remote copy verified`,
          attention: false,
        });
      }
    }
    return planned;
  }
}

function plannedBackup(m: Manifest, decision: RetentionDecision | undefined, now: Date): PlannedBackup {
  const takenAt = backupIdTime(m.backupId);
  const base = {
    backupId: m.backupId,
    takenAt: takenAt.toISOString(),
    ageDays: Math.floor((now.getTime() - takenAt.getTime()) / DAY_MS),
    status: displayStatus(m),
    pinned: m.pinned,
    tier: m.locations.remote?.tier ?? null,
    sizeBytes: m.artifact.size ?? 0,
  };
  if (m.deletion) {
    return {
      ...base,
      action: 'delete',
      reasons: [`deletion started ${m.deletion.at} (${m.deletion.reason})`],
      tierMove: null,
    };
  }
  // The engine answers for every snapshot; a missing answer must never turn into a deletion.
  if (!decision) return { ...base, action: 'keep', reasons: ['no decision'], tierMove: null };
  return {
    ...base,
    action: decision.action,
    reasons: decision.reasons,
    tierMove: decision.action === 'keep' ? decision.tier : null,
    ...(decision.tierNote !== undefined && { tierNote: decision.tierNote }),
  };
}

function withLock(planned: PlannedBackup, lock: PlannedLock | undefined): PlannedBackup {
  return lock === undefined ? planned : { ...planned, lock };
}

/**
 * A base backup the PITR window needs stays whatever the policy says, and stays readable: a policy deletion
 * becomes a keep in its current tier, and a move to Archive (hours of rehydration before a restore) is not made.
 */
function withWindowHold(planned: PlannedBackup, hold: string): PlannedBackup {
  if (planned.action === 'delete') return { ...planned, action: 'keep', reasons: [hold], tierMove: null };
  const reasons = [...planned.reasons, hold];
  if (planned.tierMove?.to !== 'Archive') return { ...planned, reasons };
  return {
    ...planned,
    reasons,
    tierMove: null,
    tierNote: `stays ${planned.tierMove.from}: serves the PITR window (Archive cannot be read without rehydration)`,
  };
}

/** Every physical base backup with how it holds WAL after this plan and the tier it will be in. */
export function walHoldersOf(
  backups: readonly PlannedBackup[],
  manifests: ReadonlyMap<string, Manifest>,
  windowHeld: ReadonlyMap<string, string>,
): WalHolder[] {
  return backups.flatMap((planned) => {
    const manifest = manifests.get(planned.backupId);
    const point = manifest ? basePointOf(manifest) : null;
    if (!point || planned.status === 'deleting') return [];
    return [
      {
        backupId: planned.backupId,
        physical: point.physical,
        hold: walHoldOf(planned, windowHeld.has(planned.backupId)),
        tier: planned.tierMove?.to ?? planned.tier,
        servesWindow: windowHeld.has(planned.backupId),
      },
    ];
  });
}

function withoutFiles(plan: WalPlan): Omit<WalPlan, 'files'> {
  const { files: _files, ...rest } = plan;
  return rest;
}
