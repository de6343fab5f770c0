import { errorData } from '@tidemark/events';
import type { BlobStore } from '@tidemark/storage';
import { drillReportBlobName, drillReportPrefix, drillReportSchema, type DrillReport } from './drill-report';

/** Where drill reports are kept; one store owns the blobs, so their names and format live in one place. */
export interface DrillReportStore {
  /** Writes the report (replacing one of the same drill) and returns its blob name. */
  save(report: DrillReport): Promise<string>;
  find(targetId: string, drillId: string): Promise<DrillReport | null>;
  /** A target's reports, oldest first; one that cannot be read is skipped with its reason. */
  list(targetId: string): Promise<{ reports: DrillReport[]; unreadable: { name: string; error: string }[] }>;
}

export const DRILL_REPORTS = Symbol('DRILL_REPORTS');

/** The reports as blobs beside the target's backups (`<targetId>/drills/<drillId>.json`). */
export class BlobDrillReportStore implements DrillReportStore {
  constructor(private readonly store: BlobStore) {}

  async save(report: DrillReport): Promise<string> {
    const name = drillReportBlobName(report.targetId, report.drillId);
    await this.store.writeJson(name, report, 'overwrite');
    return name;
  }

  async find(targetId: string, drillId: string): Promise<DrillReport | null> {
    const stored = await this.store.readJson(drillReportBlobName(targetId, drillId));
    return stored ? drillReportSchema.parse(stored.value) : null;
  }

  async list(targetId: string): ReturnType<DrillReportStore['list']> {
    const reports: DrillReport[] = [];
    const unreadable: { name: string; error: string }[] = [];
    for await (const item of this.store.list(drillReportPrefix(targetId))) {
      if (!item.name.endsWith('.json')) continue;
      try {
        const stored = await this.store.readJson(item.name);
        if (stored) reports.push(drillReportSchema.parse(stored.value));
      } catch (error) {
        unreadable.push({ name: item.name, error: errorData(error).message });
      }
    }
    return { reports: byStart(reports), unreadable };
  }
}

/** For unit tests: the same contract in memory. */
export class MemoryDrillReportStore implements DrillReportStore {
  private readonly reports = new Map<string, DrillReport>();

  save(report: DrillReport): Promise<string> {
    const name = drillReportBlobName(report.targetId, report.drillId);
    this.reports.set(name, drillReportSchema.parse(report));
    return Promise.resolve(name);
  }

  find(targetId: string, drillId: string): Promise<DrillReport | null> {
    return Promise.resolve(this.reports.get(drillReportBlobName(targetId, drillId)) ?? null);
  }

  list(targetId: string): ReturnType<DrillReportStore['list']> {
    const reports = [...this.reports.values()].filter((r) => r.targetId === targetId);
    return Promise.resolve({ reports: byStart(reports), unreadable: [] });
  }
}

function byStart(reports: DrillReport[]): DrillReport[] {
  return reports.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.drillId.localeCompare(b.drillId));
}
