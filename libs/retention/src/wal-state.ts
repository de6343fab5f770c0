import type { Manifest } from '@tidemark/manifest';
import type { Target } from '@tidemark/policy';
import type { ArchivedWalFile, WalArchive } from '@tidemark/wal-archive';
import {
  type ArchivedWal,
  type ArchiveState,
  type BaseBackupPoint,
  parseTimelineHistory,
  physicalBackupSchema,
  type Timeline,
  type TimelineSwitch,
} from '@tidemark/wal';

/** The PITR window a physical target declares (`pitr.windowDays`, default 7 as in the config schema). */
export const DEFAULT_PITR_WINDOW_DAYS = 7;

/** Whether the target's backups are base backups with a WAL archive (`method: physical`). */
export function isPhysicalTarget(target: Target): boolean {
  return target['method'] === 'physical';
}

/** `pitr.windowDays` of a physical target; the config has validated the block, so only its shape is read here. */
export function pitrWindowDays(target: Target): number {
  const pitr = target['pitr'];
  if (typeof pitr === 'object' && pitr !== null && 'windowDays' in pitr) {
    const days = pitr.windowDays;
    if (typeof days === 'number' && days > 0) return days;
  }
  return DEFAULT_PITR_WINDOW_DAYS;
}

/** A manifest's base backup record, or null when it is not a (well-formed) physical base backup. */
export function basePointOf(manifest: Manifest): BaseBackupPoint | null {
  const parsed = physicalBackupSchema.safeParse(manifest.content.physical);
  return parsed.success ? { backupId: manifest.backupId, physical: parsed.data } : null;
}

/** A target's WAL archive as listed, with what the recovery planner needs of it. */
export interface WalListing {
  files: ArchivedWalFile[];
  state: ArchiveState;
  /** Timelines whose history file could not be read (missing metadata, checksum, storage): treated as unknown. */
  unreadableHistories: { timeline: Timeline; error: string }[];
}

/**
 * Lists `<targetId>/wal/` and reads every timeline history file. A file without Tidemark metadata cannot be
 * fetched checked, so the planner does not see it (retention leaves it alone and reports it).
 */
export async function readWalListing(archive: WalArchive, targetId: string): Promise<WalListing> {
  const files = await archive.list(targetId);
  const histories = new Map<Timeline, readonly TimelineSwitch[]>();
  const unreadableHistories: WalListing['unreadableHistories'] = [];
  for (const file of files) {
    if (file.kind !== 'history' || file.timeline <= 1) continue;
    try {
      histories.set(file.timeline, parseTimelineHistory(await archive.readText(file)));
    } catch (error) {
      unreadableHistories.push({
        timeline: file.timeline,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return { files, state: { files: files.flatMap(toArchivedWal), histories }, unreadableHistories };
}

function toArchivedWal(file: ArchivedWalFile): ArchivedWal[] {
  if (!file.metadata) return [];
  return [
    {
      timeline: file.timeline,
      file: file.file,
      kind: file.kind,
      receivedAt: new Date(file.metadata.receivedat),
    },
  ];
}
