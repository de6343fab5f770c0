import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Injectable, Module, type INestApplication, type OnModuleInit } from '@nestjs/common';
import { bootstrapService } from './bootstrap';
import { TidemarkMetrics } from './metrics';
import { ObservabilityModule } from './observability.module';
import { ReadinessChecks } from './readiness';

const DESIGN_METRICS = [
  'tidemark_backup_last_success_timestamp_seconds',
  'tidemark_backup_last_status',
  'tidemark_backup_age_seconds',
  'tidemark_backup_duration_seconds',
  'tidemark_backup_size_bytes',
  'tidemark_backups_total',
  'tidemark_upload_bytes_total',
  'tidemark_retention_deleted_total',
  'tidemark_storage_bytes',
  'tidemark_queue_jobs',
  'tidemark_local_free_bytes',
];
// Beyond DESIGN §7: the scheduler's count of job schedulers Redis lost and it put back.
const SCHEDULE_METRICS = ['tidemark_schedules_restored_total', 'tidemark_schedule_missed_ticks_total'];
/** Set by the archiver (issue 13): the age of the newest shipped WAL is the recovery point at risk. */
const WAL_METRICS = [
  'tidemark_wal_archive_bytes',
  'tidemark_wal_archive_lag_seconds',
  'tidemark_wal_archive_max_lag_seconds',
  'tidemark_wal_continuity_problems',
  'tidemark_wal_last_archived_timestamp_seconds',
  'tidemark_wal_segments_total',
];
/** Set by the notifier (issue 15): per channel, sent, failed or suppressed. */
const NOTIFIER_METRICS = ['tidemark_notifications_total'];
/** Set by the verifier's restore drills (issue 16): evidence that old backups come back, and how fast. */
const DRILL_METRICS = [
  'tidemark_drill_last_success_timestamp_seconds',
  'tidemark_drill_result',
  'tidemark_drill_rto_seconds',
  'tidemark_drill_rto_target_seconds',
];

@Injectable()
class PingCheck implements OnModuleInit {
  pings = 0;
  constructor(private readonly readiness: ReadinessChecks) {}
  onModuleInit(): void {
    this.readiness.register('redis', () => {
      this.pings += 1;
      return Promise.resolve();
    });
  }
}

/** The value of the sample of `name` that carries all of `labels` (in whatever order prom-client writes them). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const present = new Set((m[2] ?? '').split(','));
    if (Object.entries(labels).every(([k, v]) => present.has(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}

describe('ObservabilityModule', () => {
  let app: INestApplication;
  let base: string;
  const saved = new Map(['PORT', 'HOST', 'LOG_LEVEL'].map((key) => [key, process.env[key]]));

  before(async () => {
    process.env['PORT'] = '0';
    process.env['HOST'] = '127.0.0.1';
    process.env['LOG_LEVEL'] = 'warn';

    @Module({ imports: [ObservabilityModule.forService({ service: 'probe-svc' })], providers: [PingCheck] })
    class ProbeModule {}

    app = await bootstrapService(ProbeModule, { service: 'probe-svc', defaultPort: 1 });
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  after(async () => {
    await app.close();
    for (const [key, value] of saved) {
      if (value === undefined) Reflect.deleteProperty(process.env, key);
      else process.env[key] = value;
    }
  });

  test('GET /healthz answers ok with the service name', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', service: 'probe-svc' });
  });

  test('GET /metrics serves Prometheus text with every DESIGN §7 metric and the service label', async () => {
    const metrics = app.get(TidemarkMetrics);
    metrics.backupDuration.observe({ target: 'orders-db', stage: 'dump' }, 42);
    metrics.backupSize.set({ target: 'orders-db' }, 1024);
    metrics.backupsTotal.inc({ target: 'orders-db', stage: 'dump', result: 'ok' });
    metrics.uploadBytes.inc(2048);
    metrics.retentionDeleted.inc({ target: 'orders-db', location: 'remote' });
    metrics.storageBytes.set({ target: 'orders-db', tier: 'Cool' }, 4096);
    metrics.queueJobs.set({ queue: 'dump', state: 'waiting' }, 3);
    metrics.localFreeBytes.set(10e9);
    metrics.backupLastSuccessTimestamp.set({ target: 'orders-db' }, 1_795_000_000);
    metrics.backupLastStatus.set({ target: 'orders-db' }, 1);
    metrics.backupAge.set({ target: 'orders-db' }, 3600);
    metrics.schedulesRestored.inc({ target: 'orders-db', reason: 'missing' });
    metrics.scheduleMissedTicks.inc({ target: 'orders-db' }, 2);
    metrics.walLastArchivedTimestamp.set({ target: 'orders-db' }, Date.now() / 1000 - 12);
    metrics.walSegmentsTotal.inc({ target: 'orders-db', result: 'archived' });
    metrics.walArchiveBytes.set({ target: 'orders-db', tier: 'Cool' }, 8192);
    metrics.walArchiveMaxLag.set({ target: 'orders-db' }, 300);
    metrics.walContinuityProblems.set({ target: 'orders-db' }, 0);
    metrics.notificationsTotal.inc({ channel: 'ops-slack', result: 'sent' });
    metrics.drillLastSuccessTimestamp.set({ target: 'orders-db' }, 1_795_000_000);
    metrics.drillResult.set({ target: 'orders-db' }, 1);
    metrics.drillRto.set({ target: 'orders-db' }, 42);
    metrics.drillRtoTarget.set({ target: 'orders-db' }, 3600);

    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of [
      ...DESIGN_METRICS,
      ...SCHEDULE_METRICS,
      ...WAL_METRICS,
      ...NOTIFIER_METRICS,
      ...DRILL_METRICS,
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is declared`);
      assert.match(
        text,
        new RegExp(`^${name}(_bucket|_sum|_count)?\\{[^}]*service="probe-svc"`, 'm'),
        `${name} has a value`,
      );
    }
    const dump = { target: 'orders-db', stage: 'dump', service: 'probe-svc' };
    assert.equal(sample(text, 'tidemark_backup_duration_seconds_bucket', { ...dump, le: '0.5' }), 0);
    assert.equal(sample(text, 'tidemark_backup_duration_seconds_bucket', { ...dump, le: '30' }), 0);
    assert.equal(sample(text, 'tidemark_backup_duration_seconds_bucket', { ...dump, le: '60' }), 1);
    assert.equal(sample(text, 'tidemark_backup_duration_seconds_bucket', { ...dump, le: '14400' }), 1);
    assert.equal(sample(text, 'tidemark_backups_total', { ...dump, result: 'ok' }), 1);
    assert.equal(sample(text, 'tidemark_queue_jobs', { queue: 'dump', state: 'waiting' }), 3);
    assert.equal(
      sample(text, 'tidemark_retention_deleted_total', { target: 'orders-db', location: 'remote' }),
      1,
    );
    assert.equal(sample(text, 'tidemark_storage_bytes', { target: 'orders-db', tier: 'Cool' }), 4096);
    assert.equal(sample(text, 'tidemark_upload_bytes_total', { service: 'probe-svc' }), 2048);
    const lag = sample(text, 'tidemark_wal_archive_lag_seconds', { target: 'orders-db' }) ?? -1;
    assert.ok(lag >= 12 && lag < 60, `the lag is now minus the last archived time: ${lag}`);
    assert.match(text, /^# TYPE tidemark_backup_duration_seconds histogram$/m);
    assert.match(text, /^# TYPE tidemark_upload_bytes_total counter$/m);
    assert.match(
      text,
      /^process_cpu_user_seconds_total\{service="probe-svc"\}/m,
      'default metrics are collected',
    );
    const tidemarkNames = new Set([...text.matchAll(/^# TYPE (tidemark_\S+)/gm)].map((m) => m[1]));
    assert.deepEqual(
      [...tidemarkNames].sort(),
      [...DESIGN_METRICS, ...SCHEDULE_METRICS, ...WAL_METRICS, ...NOTIFIER_METRICS, ...DRILL_METRICS].sort(),
      'exactly the metrics of the design, the schedule reconciler, the WAL archiver, the notifier and the drills',
    );
  });

  test('GET /readyz is 200 while checks pass, 503 naming a failed check without its secrets', async () => {
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    const readyBody = (await ready.json()) as { status: string; details: Record<string, { status: string }> };
    assert.equal(readyBody.status, 'ok');
    assert.equal(readyBody.details['redis']?.status, 'up');
    assert.ok(app.get(PingCheck).pings >= 1, 'the registered check ran');

    app
      .get(ReadinessChecks)
      .register('storage', () =>
        Promise.reject(
          new Error(
            'getProperties failed: DefaultEndpointsProtocol=https;AccountName=a;AccountKey=s3cretkey==;\nstack',
          ),
        ),
      );
    const res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    const raw = await res.text();
    assert.ok(!raw.includes('s3cretkey'), raw);
    const body = JSON.parse(raw) as {
      status: string;
      error: Record<string, { status: string; message: string }>;
      info: Record<string, { status: string }>;
    };
    assert.equal(body.status, 'error');
    assert.equal(body.info['redis']?.status, 'up');
    assert.equal(body.error['storage']?.status, 'down');
    assert.equal(
      body.error['storage'].message,
      'getProperties failed: DefaultEndpointsProtocol=https;AccountName=a;AccountKey=***;',
    );
  });

  test('a check that hangs fails /readyz after the 3 s timeout', async () => {
    app.get(ReadinessChecks).register('slow', () => new Promise<void>(() => undefined));
    const started = Date.now();
    const res = await fetch(`${base}/readyz`);
    const elapsed = Date.now() - started;
    assert.equal(res.status, 503);
    const body = (await res.json()) as { error: Record<string, { message: string }> };
    assert.match(body.error['slow']?.message ?? '', /timeout of 3000ms/);
    assert.ok(elapsed >= 2900 && elapsed < 6000, `took ${elapsed} ms`);
  });

  test('a check name can be registered only once', () => {
    assert.throws(() => {
      app.get(ReadinessChecks).register('redis', () => Promise.resolve());
    }, /already registered/);
  });
});
