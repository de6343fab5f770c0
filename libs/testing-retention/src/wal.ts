import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '@tidemark/manifest';
import {
  DEFAULT_SEGMENT_BYTES,
  formatLsn,
  historyFileName,
  segmentFileName,
  type PhysicalBackup,
} from '@tidemark/wal';
import type { WalArchive } from '@tidemark/wal-archive';
import { seedManifest, type SeedBackup } from './seed';

export interface SeedBase extends SeedBackup {
  /** The segment (16 MiB) holding the start LSN, and the one holding the stop LSN (default: the start's). */
  startSegno: number;
  stopSegno?: number;
  /** Default: a minute after takenAt. */
  stoppedAt?: Date;
  timeline?: number;
}

/** The `content.physical` of a base backup whose WAL runs from inside `startSegno` to inside `stopSegno`. */
export function physicalOf(seed: SeedBase): PhysicalBackup {
  const segment = BigInt(DEFAULT_SEGMENT_BYTES);
  const stoppedAt = seed.stoppedAt ?? new Date(seed.takenAt.getTime() + 60_000);
  return {
    startLsn: formatLsn(BigInt(seed.startSegno) * segment + 0x28n),
    stopLsn: formatLsn(BigInt(seed.stopSegno ?? seed.startSegno) * segment + 0x100n),
    timeline: seed.timeline ?? 1,
    startedAt: seed.takenAt.toISOString(),
    stoppedAt: stoppedAt.toISOString(),
    serverVersion: '15.10',
    systemIdentifier: '7441234567890123456',
    walSegmentBytes: DEFAULT_SEGMENT_BYTES,
    databases: ['postgres'],
    backupManifest: { 'PostgreSQL-Backup-Manifest-Version': 1 },
  };
}

/** A physical base backup's manifest (format pg_basebackup-tar) as the pipeline would have left it. */
export function seedBaseManifest(container: string, seed: SeedBase, backupId?: string): Manifest {
  const manifest = seedManifest(container, seed, backupId);
  return { ...manifest, content: { ...manifest.content, physical: physicalOf(seed) } };
}

/** Writes WAL into an archive through its own commit path (so the blobs carry real metadata). */
export class WalSeeder {
  constructor(
    private readonly archive: WalArchive,
    private readonly targetId: string,
    /** A scratch directory for the raw files. */
    private readonly dir: string,
  ) {}

  async segment(segno: number, receivedAt: Date, timeline = 1): Promise<string> {
    const file = segmentFileName({ timeline, segno: BigInt(segno) });
    await this.archive.commitSegment({
      targetId: this.targetId,
      timeline,
      file,
      path: await this.rawFile(randomBytes(512)),
      receivedAt,
      route: 'stream',
    });
    return file;
  }

  async partial(segno: number, receivedAt: Date, timeline = 1): Promise<string> {
    const file = segmentFileName({ timeline, segno: BigInt(segno) });
    await this.archive.shipPartial({
      targetId: this.targetId,
      timeline,
      file,
      path: await this.rawFile(randomBytes(256)),
      receivedAt,
      route: 'stream',
    });
    return file;
  }

  /** `<timeline>.history` whose lines are `[parent, switch segment]` (the switch at that segment's start). */
  async history(timeline: number, switches: [number, number][], receivedAt: Date): Promise<string> {
    const text = switches
      .map(
        ([parent, segno]) =>
          `${parent}\t${formatLsn(BigInt(segno) * BigInt(DEFAULT_SEGMENT_BYTES))}\tno recovery target specified`,
      )
      .join('\n');
    await this.archive.commitHistory({
      targetId: this.targetId,
      timeline,
      path: await this.rawFile(Buffer.from(`${text}\n`)),
      receivedAt,
      route: 'stream',
    });
    return historyFileName(timeline);
  }

  private async rawFile(data: Buffer): Promise<string> {
    const path = join(this.dir, `wal-${randomBytes(6).toString('hex')}`);
    await writeFile(path, data);
    return path;
  }
}
