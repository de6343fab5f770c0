import type { Chain, Manifest } from './manifest.schema';

/** Statuses a chain member may have and still be built on or restored from. */
const USABLE = new Set(['uploaded', 'verified']);

function usable(manifest: Manifest | undefined): manifest is Manifest {
  return manifest !== undefined && USABLE.has(manifest.status) && manifest.deletion === null;
}

/**
 * The members of `point`'s chain from the full to `point`, in order; null when one of them is missing, failed,
 * corrupt or being deleted (the point cannot be rebuilt). A backup without a chain is its own one-member chain.
 */
export function chainMembers(point: Manifest, byId: ReadonlyMap<string, Manifest>): Manifest[] | null {
  const members: Manifest[] = [point];
  let current = point;
  while (current.chain?.parent) {
    const parent = byId.get(current.chain.parent);
    if (!usable(parent) || members.length > 10_000) return null;
    members.unshift(parent);
    current = parent;
  }
  return members;
}

/** Only the members that hold bytes the point needs; the others need not be read at all. */
export function neededMembers(point: Manifest, members: readonly Manifest[]): Manifest[] {
  const holders = new Set((point.content.files ?? []).filter((f) => f.type === 'file').map((f) => f.in));
  return members.filter((m) => holders.has(m.backupId));
}

/**
 * Where the next backup of a chain kind attaches: the newest usable backup whose whole chain is usable and
 * shorter than `fullEvery`; null means take a full. `manifests` are one target's, in any order.
 */
export function nextChainLink(
  manifests: readonly Manifest[],
  fullEvery: number,
): { previous: Manifest; chain: Chain } | null {
  const byId = new Map(manifests.map((m) => [m.backupId, m]));
  const newest = [...manifests]
    .filter((m) => usable(m) && m.chain !== undefined && m.content.files !== undefined)
    .sort((a, b) => a.backupId.localeCompare(b.backupId))
    .at(-1);
  if (!newest?.chain) return null;
  if (newest.chain.position + 1 >= fullEvery) return null;
  if (chainMembers(newest, byId) === null) return null;
  return {
    previous: newest,
    chain: { base: newest.chain.base, parent: newest.backupId, position: newest.chain.position + 1 },
  };
}

/** The chain record of a full backup. */
export function fullChain(backupId: string): Chain {
  return { base: backupId, parent: null, position: 0 };
}
