import type { Manifest } from '@tidemark/manifest';
import type { DrillPick } from '@tidemark/policy';

export interface PickedBackup {
  manifest: Manifest;
  /** Every pick that chose it (a backup both newest and oldest is drilled once). */
  picks: DrillPick[];
}

/**
 * The backups a drill restores: among the target's verified backups in any tier (server runs' members aside),
 * one per pick, each backup once. `random` returns a number in [0, 1) (tests pass their own).
 */
export function pickBackups(
  manifests: readonly Manifest[],
  picks: readonly DrillPick[],
  random: () => number = Math.random,
): PickedBackup[] {
  const verified = manifests
    .filter((m) => m.status === 'verified' && !m.deletion && !m.run)
    .sort((a, b) => a.backupId.localeCompare(b.backupId));
  if (verified.length === 0) return [];
  const chosen = new Map<string, PickedBackup>();
  for (const pick of picks) {
    const manifest =
      pick === 'newest'
        ? verified.at(-1)
        : pick === 'oldest'
          ? verified[0]
          : verified[Math.min(verified.length - 1, Math.floor(random() * verified.length))];
    if (!manifest) continue;
    const entry = chosen.get(manifest.backupId) ?? { manifest, picks: [] };
    entry.picks.push(pick);
    chosen.set(manifest.backupId, entry);
  }
  return [...chosen.values()];
}
