import type { Catalog } from '@tidemark/catalog';
import type { TidemarkConfig } from '@tidemark/policy';
import { isPhysicalTarget, readRecoveryWindow } from '@tidemark/retention';
import type { BlobStore } from '@tidemark/storage';
import type { LastVerified, LastVerifiedLookup } from './message';

/** The newest verified backup from the manifests in Blob Storage (the catalog, never Redis). */
export class CatalogLastVerified implements LastVerifiedLookup {
  constructor(private readonly catalog: Catalog) {}

  async lastVerified(targetId: string): Promise<LastVerified | null> {
    const { manifests } = await this.catalog.list(targetId);
    const newest = manifests.filter((m) => m.status === 'verified' && !m.deletion).at(-1);
    if (!newest) return null;
    return {
      backupId: newest.backupId,
      verifiedAt: newest.timestamps.verifiedAt ?? newest.timestamps.requestedAt,
    };
  }
}

/** Each physical target's recovery window for the digests, `earliest → latest` (or why there is none). */
export async function recoveryWindowsOf(
  config: TidemarkConfig,
  catalog: Catalog,
  store: BlobStore,
): Promise<Map<string, string>> {
  const windows = new Map<string, string>();
  for (const target of config.targets.filter(isPhysicalTarget)) {
    const { manifests } = await catalog.list(target.id);
    const view = await readRecoveryWindow(store, target.id, manifests);
    windows.set(
      target.id,
      view.earliest && view.latest ? `${view.earliest} → ${view.latest}` : `none (${view.none ?? 'unknown'})`,
    );
  }
  return windows;
}
