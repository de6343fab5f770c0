import type { PendingFailure, PendingFailureStore } from '@tidemark/pipeline';

/** A {@link PendingFailureStore} in a Map. */
export class MemoryPendingFailures implements PendingFailureStore {
  private readonly entries = new Map<string, PendingFailure>();

  park(pending: PendingFailure): Promise<void> {
    this.entries.set(`${pending.targetId}/${pending.backupId}`, structuredClone(pending));
    return Promise.resolve();
  }

  has(targetId: string, backupId: string): Promise<boolean> {
    return Promise.resolve(this.entries.has(`${targetId}/${backupId}`));
  }

  claim(pending: Pick<PendingFailure, 'targetId' | 'backupId'>): Promise<boolean> {
    return Promise.resolve(this.entries.delete(`${pending.targetId}/${pending.backupId}`));
  }

  all(): Promise<{ pending: PendingFailure[]; unreadable: { field: string; error: string }[] }> {
    return Promise.resolve({
      pending: [...this.entries.values()].map((p) => structuredClone(p)),
      unreadable: [],
    });
  }
}
