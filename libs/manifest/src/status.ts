import type { BackupStatus, Failure, Manifest, Verification } from './manifest.schema';
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
  artifact: Pick<Manifest['artifact'], 'size' | 'rawSize' | 'sha256' | 'parts'>,
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
  return v.checksum.ok && (v.structure?.ok ?? true) && (v.restoreTest?.ok ?? true);
}

export function markFailed(manifest: Manifest, failure: Failure): Manifest {
  const next = move(manifest, 'failed');
  return { ...next, failure, timestamps: { ...next.timestamps, failedAt: failure.at } };
}
