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
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metricsText(): Promise<string> {
    return this.registry.metrics();
  }
}
