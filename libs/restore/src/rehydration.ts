import type { BlobStore, RehydratePriority } from '@tidemark/storage';
import { setTimeout as sleep } from 'node:timers/promises';
import { RestoreError } from './artifact-stream';

/** How waiting for a rehydration is reported (RestoreService's RehydrateOptions carries these). */
export interface RehydrationWait {
  priority: RehydratePriority;
  /** Between two looks at the blob while waiting; default one minute (Azure takes hours). */
  pollMs?: number;
  onWaiting?: (status: { archiveStatus: string | undefined; elapsedMs: number }) => void;
}

/** In the Archive tier, or on its way out of it: not readable yet. */
export function isArchived(props: { tier: string | undefined; archiveStatus?: string }): boolean {
  return props.tier === 'Archive' || isRehydrating(props);
}

export function isRehydrating(props: { archiveStatus?: string }): boolean {
  return props.archiveStatus?.startsWith('rehydrate-pending') ?? false;
}

/** Polls the blob until it has left the Archive tier. */
export async function waitUntilOnline(
  store: BlobStore,
  blobName: string,
  wait: RehydrationWait,
): Promise<void> {
  const started = Date.now();
  for (;;) {
    const props = await store.properties(blobName);
    if (!props) throw new RestoreError('not-found', `${blobName} disappeared while it was being rehydrated`);
    if (!isArchived(props)) return;
    wait.onWaiting?.({ archiveStatus: props.archiveStatus, elapsedMs: Date.now() - started });
    await sleep(wait.pollMs ?? 60_000);
  }
}
