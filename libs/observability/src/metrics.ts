import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// From half a second (a tiny SQLite dump) to four hours (a large database over a slow link).
export const BACKUP_DURATION_BUCKETS = [
  0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400,
];

/** The Prometheus metrics of DESIGN §7, on a registry of their own labelled with the service. */
export class TidemarkMetrics {
  readonly registry = new Registry();

  readonly backupDuration: Histogram<'target' | 'stage'>;
  readonly backupSize: Gauge<'target'>;
  readonly backupsTotal: Counter<'target' | 'stage' | 'result'>;
  readonly uploadBytes: Counter;
  readonly retentionDeleted: Counter<'target' | 'location'>;
  /** Bytes of a target's backups in Blob Storage per access tier, as retention left them. */
  readonly storageBytes: Gauge<'target' | 'tier'>;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly localFreeBytes: Gauge;
  readonly backupLastSuccessTimestamp: Gauge<'target'>;
  /** 1 when the newest finished backup is ok, 0 when it failed. */
  readonly backupLastStatus: Gauge<'target'>;
  readonly backupAge: Gauge<'target'>;
  /** Job schedulers the scheduler found missing (or stalled) in Redis and put back. */
  readonly schedulesRestored: Counter<'target' | 'reason'>;
  /** Scheduled ticks that fell due while a target's job scheduler was missing or stalled. */
  readonly scheduleMissedTicks: Counter<'target'>;
  /** When the newest WAL shipped for a target was received (its last byte); the archiver sets it. */
  readonly walLastArchivedTimestamp: Gauge<'target'>;
  /** Now minus that time, refreshed on every scrape (so it grows while nothing is shipped). */
  readonly walArchiveLag: Gauge<'target'>;
  readonly walSegmentsTotal: Counter<'target' | 'result'>;
  /** Bytes of a target's WAL in Blob Storage per access tier. */
  readonly walArchiveBytes: Gauge<'target' | 'tier'>;
  readonly walArchiveMaxLag: Gauge<'target'>;
  readonly walContinuityProblems: Gauge<'target'>;
  /** Notifications per channel: sent, failed (given up) or suppressed (the condition was sent within repeatAfter). */
  readonly notificationsTotal: Counter<'channel' | 'result'>;
  // Restore drills (the verifier runs them, libs/drills).
  readonly drillLastSuccessTimestamp: Gauge<'target'>;
  /** The achieved RTO of the newest drill: its whole run, rehydration to the last check. */
  readonly drillRto: Gauge<'target'>;
  /** The RTO the target's policy asks for (drills.rtoMinutes), so a rule can compare. */
  readonly drillRtoTarget: Gauge<'target'>;
  /** 1 when the newest drill passed, 0 when it failed. */
  readonly drillResult: Gauge<'target'>;

  constructor(readonly service: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });

    this.backupDuration = new Histogram({
      name: 'tidemark_backup_duration_seconds',
      help: 'Duration of a backup stage in seconds',
      labelNames: ['target', 'stage'],
      buckets: BACKUP_DURATION_BUCKETS,
      registers,
    });
    this.backupSize = new Gauge({
      name: 'tidemark_backup_size_bytes',
      help: 'Stored size of the latest backup of a target in bytes',
      labelNames: ['target'],
      registers,
    });
    this.backupsTotal = new Counter({
      name: 'tidemark_backups_total',
      help: 'Backup stages finished, by result',
      labelNames: ['target', 'stage', 'result'],
      registers,
    });
    this.uploadBytes = new Counter({
      name: 'tidemark_upload_bytes_total',
      help: 'Bytes uploaded to Blob Storage',
      registers,
    });
    this.retentionDeleted = new Counter({
      name: 'tidemark_retention_deleted_total',
      help: 'Backups deleted by retention, by location (local or remote)',
      labelNames: ['target', 'location'],
      registers,
    });
    this.storageBytes = new Gauge({
      name: 'tidemark_storage_bytes',
      help: 'Bytes of the backups of a target in Blob Storage, by access tier',
      labelNames: ['target', 'tier'],
      registers,
    });
    this.queueJobs = new Gauge({
      name: 'tidemark_queue_jobs',
      help: 'Jobs in a queue by state',
      labelNames: ['queue', 'state'],
      registers,
    });
    this.localFreeBytes = new Gauge({
      name: 'tidemark_local_free_bytes',
      help: 'Free bytes on the local backup tier',
      registers,
    });
    this.backupLastSuccessTimestamp = new Gauge({
      name: 'tidemark_backup_last_success_timestamp_seconds',
      help: 'Unix time of the newest verified backup of a target',
      labelNames: ['target'],
      registers,
    });
    this.backupLastStatus = new Gauge({
      name: 'tidemark_backup_last_status',
      help: 'Status of the newest finished backup of a target: 1 ok, 0 failed',
      labelNames: ['target'],
      registers,
    });
    this.backupAge = new Gauge({
      name: 'tidemark_backup_age_seconds',
      help: 'Age of the newest verified backup of a target in seconds',
      labelNames: ['target'],
      registers,
    });
    this.schedulesRestored = new Counter({
      name: 'tidemark_schedules_restored_total',
      help: 'Job schedulers found missing or stalled in Redis and restored, by reason',
      labelNames: ['target', 'reason'],
      registers,
    });
    this.scheduleMissedTicks = new Counter({
      name: 'tidemark_schedule_missed_ticks_total',
      help: 'Scheduled ticks that fell due while the job scheduler of a target was missing or stalled',
      labelNames: ['target'],
      registers,
    });
    this.walLastArchivedTimestamp = new Gauge({
      name: 'tidemark_wal_last_archived_timestamp_seconds',
      help: 'Unix time at which the newest WAL shipped to Blob Storage was received from the server',
      labelNames: ['target'],
      registers,
    });
    const lastArchived = this.walLastArchivedTimestamp;
    this.walArchiveLag = new Gauge({
      name: 'tidemark_wal_archive_lag_seconds',
      help: 'Seconds since the newest WAL shipped to Blob Storage was received (the recovery point lost now)',
      labelNames: ['target'],
      registers,
      async collect() {
        const now = Date.now() / 1000;
        for (const sample of (await lastArchived.get()).values) {
          this.set({ target: String(sample.labels['target']) }, Math.max(0, now - sample.value));
        }
      },
    });
    this.walSegmentsTotal = new Counter({
      name: 'tidemark_wal_segments_total',
      help: 'WAL files shipped to Blob Storage, by result (archived, duplicate, failed, partial)',
      labelNames: ['target', 'result'],
      registers,
    });
    this.walArchiveBytes = new Gauge({
      name: 'tidemark_wal_archive_bytes',
      help: "Compressed bytes of a target's WAL archive in Blob Storage per access tier",
      labelNames: ['target', 'tier'],
      registers,
    });
    // The alert compares the lag with each target's own pitr.maxLagSeconds, which only the config knows.
    this.walArchiveMaxLag = new Gauge({
      name: 'tidemark_wal_archive_max_lag_seconds',
      help: "The archive lag a target's policy allows (pitr.maxLagSeconds)",
      labelNames: ['target'],
      registers,
    });
    this.walContinuityProblems = new Gauge({
      name: 'tidemark_wal_continuity_problems',
      help: "Gaps, missing history files and checksum mismatches the last WAL continuity check found in a target's archive",
      labelNames: ['target'],
      registers,
    });
    this.notificationsTotal = new Counter({
      name: 'tidemark_notifications_total',
      help: 'Notifications per channel, by result (sent, failed, suppressed)',
      labelNames: ['channel', 'result'],
      registers,
    });
    const targetGauge = (name: string, help: string): Gauge<'target'> =>
      new Gauge({ name, help, labelNames: ['target'], registers });
    this.drillLastSuccessTimestamp = targetGauge(
      'tidemark_drill_last_success_timestamp_seconds',
      'Unix time at which the newest passed restore drill of a target finished',
    );
    this.drillRto = targetGauge(
      'tidemark_drill_rto_seconds',
      'Seconds the newest restore drill of a target took, from rehydration to its last check (the achieved RTO)',
    );
    this.drillRtoTarget = targetGauge(
      'tidemark_drill_rto_target_seconds',
      "The recovery time objective of a target's policy (drills.rtoMinutes), in seconds",
    );
    this.drillResult = targetGauge(
      'tidemark_drill_result',
      'Result of the newest restore drill of a target: 1 passed, 0 failed',
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metricsText(): Promise<string> {
    return this.registry.metrics();
  }
}
