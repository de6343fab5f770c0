import type { AccessTier, BackupStatus, Failure, Manifest, Verification } from './manifest.schema';
import { ManifestError } from './manifest.schema';

/**
 * Legal status moves. Repeating the current status is allowed so every handler can be retried.
 * `verified -> corrupt` covers a later re-verification that finds damage; `failed` and `corrupt` are final.
 */
const NEXT: Record<BackupStatus, readonly BackupStatus[]> = {
  dumping: ['dumping', 'dumped', 'failed'],
  dumped: ['dumped', 'uploaded', 'failed'],
  uploaded: ['uploaded', 'verified', 'corrupt', 'failed'],
  verified: ['verified', 'corrupt'],
  failed: ['failed'],
  corrupt: ['corrupt'],
};

export function canTransition(from: BackupStatus, to: BackupStatus): boolean {
  return NEXT[from].includes(to);
}

export function isFinal(status: BackupStatus): boolean {
  return status === 'failed' || status === 'corrupt' || status === 'verified';
}

function move(manifest: Manifest, to: BackupStatus): Manifest {
  if (!canTransition(manifest.status, to)) {
    throw new ManifestError(`backup ${manifest.backupId} cannot move from ${manifest.status} to ${to}`);
  }
  return { ...manifest, status: to };
}

export function markDumped(
  manifest: Manifest,
  artifact: Pick<Manifest['artifact'], 'size' | 'rawSize' | 'sha256' | 'parts' | 'md5'>,
  at: Date,
): Manifest {
  const next = move(manifest, 'dumped');
  return {
    ...next,
    artifact: { ...next.artifact, ...artifact },
    timestamps: { ...next.timestamps, dumpedAt: at.toISOString() },
  };
}

export function markUploaded(
  manifest: Manifest,
  remote: NonNullable<Manifest['locations']['remote']>,
  at: Date,
): Manifest {
  const next = move(manifest, 'uploaded');
  return {
    ...next,
    locations: { ...next.locations, remote },
    timestamps: { ...next.timestamps, uploadedAt: at.toISOString() },
  };
}

/** Records a verification; the backup becomes `verified` when every check passed and `corrupt` otherwise. */
export function markVerification(manifest: Manifest, verification: Verification): Manifest {
  const ok = verificationPassed(verification);
  const next = move(manifest, ok ? 'verified' : 'corrupt');
  return {
    ...next,
    verification,
    timestamps: ok ? { ...next.timestamps, verifiedAt: verification.at } : next.timestamps,
  };
}

export function verificationPassed(v: Verification): boolean {
  return !v.unreadable && v.checksum.ok && (v.structure?.ok ?? true) && (v.restoreTest?.ok ?? true);
}

/**
 * A verification that checked the blob's sha256 but could not read its content: recorded (with why) for `tidemark
 * show`, and the status is left as it was — nothing says the backup is damaged, nor that it restores. A backup
 * already verified (or found corrupt) keeps that verification: a later pass without the key proves nothing new.
 */
export function markUnreadable(manifest: Manifest, verification: Verification): Manifest {
  if (!verification.unreadable)
    throw new Error('markUnreadable needs a verification that says why it is unread');
  if (manifest.status !== 'uploaded') return manifest;
  return { ...manifest, verification };
}

export function markFailed(manifest: Manifest, failure: Failure): Manifest {
  const next = move(manifest, 'failed');
  return { ...next, failure, timestamps: { ...next.timestamps, failedAt: failure.at } };
}

/** What `tidemark list` shows: a backup whose deletion has started is `deleting`, whatever its status was. */
export function displayStatus(manifest: Manifest): BackupStatus | 'deleting' {
  return manifest.deletion ? 'deleting' : manifest.status;
}

/** Marks a backup as being deleted (the first step of a deletion; an existing mark is kept). */
export function markDeleting(manifest: Manifest, reason: string, at: Date): Manifest {
  if (manifest.deletion) return manifest;
  return { ...manifest, deletion: { at: at.toISOString(), reason } };
}

/** Records a tier change of the remote artifact, restarting its tier clock. */
export function markTier(manifest: Manifest, tier: AccessTier, at: Date): Manifest {
  const remote = manifest.locations.remote;
  if (!remote)
    throw new ManifestError(`backup ${manifest.backupId} has no remote artifact to move to ${tier}`);
  return {
    ...manifest,
    locations: { ...manifest.locations, remote: { ...remote, tier, tierSince: at.toISOString() } },
  };
}
