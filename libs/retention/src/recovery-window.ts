import type { Manifest } from '@tidemark/manifest';
import type { BlobStore } from '@tidemark/storage';
import { recoveryWindows } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { basePointOf, readWalListing, type WalListing } from './wal-state';

/** What a physical target can be restored to right now, from its catalog and its WAL archive. */
export interface RecoveryWindowView {
  /** Earliest and latest restorable time (ISO); null when there is none, with `none` saying why. */
  earliest: string | null;
  latest: string | null;
  /** Every restorable range, oldest first: more than one when a WAL gap splits the archive. */
  ranges: { from: string; to: string }[];
  none: string | null;
}

/**
 * The restorable ranges of the verified base backups (not being deleted) over the archive, as `restore --at`
 * would see them (`recoveryWindows`): a base counts once the WAL up to its stop LSN is archived.
 */
export function recoveryWindowOf(manifests: readonly Manifest[], listing: WalListing): RecoveryWindowView {
  const bases = manifests
    .filter((m) => m.status === 'verified' && !m.deletion)
    .flatMap((m) => basePointOf(m) ?? []);
  const ranges = recoveryWindows(bases, listing.state).map((range) => ({
    from: range.from.toISOString(),
    to: range.to.toISOString(),
  }));
  const none =
    ranges.length > 0
      ? null
      : bases.length === 0
        ? 'no verified base backup'
        : listing.state.files.every((file) => file.kind === 'history')
          ? 'no WAL archived'
          : `the archive lacks WAL up to the stop LSN of every verified base backup (newest: ${bases.at(-1)?.backupId ?? ''}, stop ${bases.at(-1)?.physical.stopLsn ?? ''})`;
  return { earliest: ranges[0]?.from ?? null, latest: ranges.at(-1)?.to ?? null, ranges, none };
}

/** Lists the target's WAL archive and works out its recovery window. */
export async function readRecoveryWindow(
  store: BlobStore,
  targetId: string,
  manifests: readonly Manifest[],
): Promise<RecoveryWindowView> {
  const listing = await readWalListing(new WalArchive(store), targetId);
  return recoveryWindowOf(
    manifests.filter((m) => m.target.id === targetId),
    listing,
  );
}
