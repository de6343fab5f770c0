import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createEvent, eventData, eventSchema, isEvent, type TidemarkEvent } from './event';
import {
  DEFAULT_SEVERITY,
  EVENT_TYPES,
  EVENTS,
  InvalidEventError,
  isEventType,
  parseEventDetails,
  type EventDetails,
  type EventType,
} from './event-types';

const BACKUP = '20261121T020000Z-k3f9xq';
const error = { code: 'source-unreachable', message: 'connect ECONNREFUSED 127.0.0.1:5432' };
const verified = {
  stage: 'verify',
  sizes: { compressed: 4096 },
  durations: { verify: 120 },
  checks: { checksum: true, structure: true, restoreTest: null },
} as const;
const applied: EventDetails<'tidemark.retention.applied'> = {
  stage: 'retention',
  counts: {
    kept: 3,
    deleted: 1,
    resumed: 0,
    tiered: 1,
    localRemoved: 2,
    localKept: 0,
    unreadable: 0,
    failed: 0,
  },
  sizes: { freed: 1000 },
  bytesFreed: 1000,
  bytesPerTier: { Hot: 0, Cool: 2048, Cold: 0, Archive: 0 },
  deleted: ['20261101T020000Z-aaaaaa'],
  tiered: [{ backupId: '20261001T020000Z-bbbbbb', from: 'Cool', to: 'Archive' }],
};

/**
 * The data of every emit site, as each builds it (libs/pipeline, dumping, verification, retention, scheduling, the
 * CLI's restore), with its optional fields present and absent. Typed per event type, so the compiler holds these
 * to the table as it holds the sites themselves.
 */
const DRILL_SAMPLE = {
  stage: 'drill' as const,
  drillId: '20261207T040000Z-d1',
  report: 'orders-db/drills/20261207T040000Z-d1.json',
  tier: 'Cold' as const,
  rehydrated: false,
  rto: { seconds: 42, targetSeconds: 3600, breached: false },
  durations: { rehydrate: 0, download: 1200, restore: 30000, checks: 800 },
};

const SAMPLES: { [T in EventType]: EventDetails<T>[] } = {
  'tidemark.backup.requested': [
    { stage: 'dump', trigger: 'schedule' },
    { stage: 'dump', trigger: 'manual' },
  ],
  'tidemark.backup.dumped': [
    {
      stage: 'dump',
      sizes: { raw: 10_000, compressed: 4096 },
      durations: { dump: 900 },
      parts: 1,
      tables: 3,
    },
    {
      stage: 'dump',
      sizes: { raw: 0, compressed: 0 },
      durations: { dump: 12 },
      parts: 2,
      tables: 0,
      files: 7,
      chain: { base: BACKUP, parent: null, position: 0 },
      run: { id: '20261121T020000Z-runabc', role: 'database', members: [BACKUP] },
      database: 'orders',
    },
  ],
  'tidemark.backup.uploaded': [
    {
      stage: 'upload',
      sizes: { compressed: 4096 },
      durations: { upload: 300 },
      blobName: `orders-db/${BACKUP}/orders-db.dump.zst`,
      tier: 'Cool',
    },
    {
      stage: 'upload',
      sizes: { compressed: 0 },
      durations: { upload: 1 },
      blobName: undefined,
      tier: undefined,
    },
  ],
  'tidemark.backup.verified': [
    verified,
    {
      ...verified,
      durations: { verify: 120, restoreTest: 5000 },
      checks: { checksum: true, structure: true, restoreTest: true },
    },
  ],
  'tidemark.backup.failed': [
    { stage: 'dump', attempts: 3, error },
    { stage: 'verify', attempts: 0, error: { code: 'abandoned', message: 'nothing will finish it' } },
  ],
  'tidemark.backup.corrupt': [
    {
      ...verified,
      checks: { checksum: false, structure: true, restoreTest: null },
      error: { code: 'corrupt', message: 'checksum: expected ab, got cd' },
    },
  ],
  'tidemark.backup.unverifiable': [
    {
      stage: 'verify',
      sizes: { compressed: 4096 },
      durations: { verify: 80 },
      checks: { checksum: true },
      error: { code: 'key-missing', message: 'policies.standard.encryption.identity is not set' },
    },
  ],
  'tidemark.backup.overdue': [
    {
      rpoHours: 25,
      ageSeconds: 91_795,
      lastVerifiedBackupId: BACKUP,
      reason: 'rpo-exceeded',
      level: 'warning',
      previousLevel: 'ok',
    },
    {
      rpoHours: 2,
      ageSeconds: null,
      lastVerifiedBackupId: null,
      reason: 'missed-schedule',
      level: 'warning',
      previousLevel: 'ok',
      missedRunAt: '2026-04-01T11:00:00.000Z',
    },
    {
      rpoHours: 25,
      ageSeconds: 1800,
      lastVerifiedBackupId: BACKUP,
      reason: 'rpo-exceeded',
      level: 'ok',
      previousLevel: 'critical',
      recovered: true,
    },
  ],
  'tidemark.retention.applied': [
    applied,
    {
      ...applied,
      unreadable: ['orders-db/20261101T020000Z-cccccc/manifest.json'],
      localKept: [{ backupId: BACKUP, reason: 'not in Blob Storage yet' }],
      failures: [{ backupId: BACKUP, step: 'tier', message: 'Blob Storage unavailable' }],
    },
  ],
  'tidemark.restore.completed': [
    {
      stage: 'restore',
      destination: 'postgres://app:***@db:5432/orders_copy',
      sizes: { compressed: 4096 },
      durations: { restore: 2500 },
    },
  ],
  'tidemark.restore.failed': [
    { stage: 'restore', error },
    { stage: 'restore', durations: { restore: 40 }, error },
  ],
  'tidemark.storage.low_disk': [
    { stage: 'dump', sizes: { free: 10, needed: 20, reserve: 1 }, path: '/var/lib/tidemark' },
  ],
  'tidemark.schedule.restored': [
    {
      reason: 'missing',
      schedule: '0 2 * * *',
      timezone: 'UTC',
      missedTicks: ['2026-11-21T02:00:00.000Z'],
      missedTickCount: 1,
      nextRun: '2026-11-22T02:00:00.000Z',
    },
    {
      reason: 'stalled',
      schedule: '*/5 * * * *',
      timezone: 'Europe/Berlin',
      missedTicks: [],
      missedTickCount: 0,
      nextRun: '2026-11-22T02:00:00.000+01:00',
    },
  ],
  'tidemark.wal.archived': [
    {
      timeline: 1,
      segments: 3,
      partials: 1,
      histories: 0,
      sizes: { raw: 50331648, compressed: 1048576 },
      last: { file: '000000010000000000000004', receivedAt: '2026-12-03T07:00:00.000Z' },
      route: 'stream',
    },
  ],
  'tidemark.wal.archive_failed': [
    {
      file: '000000010000000000000004',
      attempts: 3,
      error: { code: 'storage-unavailable', message: 'down' },
    },
    { attempts: 1, error: { code: 'slot-lost', message: 'replication slot is gone' } },
  ],
  'tidemark.wal.gap': [
    {
      problems: [{ kind: 'missing-segment', timeline: 1, file: '000000010000000000000003' }],
      problemCount: 1,
      checkedFrom: '000000010000000000000002',
      checkedTo: '000000010000000000000009',
    },
  ],
  'tidemark.notification.failed': [
    {
      channel: 'ops-slack',
      channelKind: 'slack',
      notificationId: '6f1c1f3e-1111-4222-8333-944455556666:ops-slack',
      dedupKey: 'tidemark/orders-db/tidemark.backup.failed/dump-failed',
      attempts: 5,
      status: 503,
      reason: 'gave up after 5 attempts: HTTP 503',
    },
    {
      channel: 'dba-mail',
      channelKind: 'email',
      notificationId: 'n-1',
      dedupKey: 'k',
      attempts: 3,
      status: null,
      reason: 'timed out',
    },
  ],
  'tidemark.drill.completed': [DRILL_SAMPLE],
  'tidemark.drill.failed': [
    {
      ...DRILL_SAMPLE,
      rto: { seconds: 4210, targetSeconds: 3600, breached: true },
      failed: [{ name: 'rto', expected: '<= 3600 s', actual: '4210 s' }],
    },
    {
      ...DRILL_SAMPLE,
      failed: [],
      error: { code: 'restore-failed', message: 'pg_restore exited with 1' },
    },
  ],
  'tidemark.audit.backup_requested': [
    { actor: { kind: 'api-key', name: 'ci' }, via: 'api', coalesced: false },
    { actor: { kind: 'entra', subject: 'sp-1', app: 'ci-app' }, via: 'api', coalesced: true },
    { actor: { kind: 'anonymous' }, via: 'api', coalesced: false },
    { actor: { kind: 'local', user: 'ops' }, via: 'cli', coalesced: false },
  ],
  'tidemark.audit.restore_requested': [
    { actor: { kind: 'local', user: 'ops' }, via: 'cli', destination: 'postgres://app:***@db/orders' },
    {
      actor: { kind: 'local', user: 'ops' },
      via: 'cli',
      destination: '/var/lib/postgresql/17/main',
      pointInTime: '2026-12-03T07:00:00.000Z',
    },
  ],
  'tidemark.audit.pinned': [{ actor: { kind: 'local', user: 'ops' }, via: 'cli' }],
  'tidemark.audit.unpinned': [{ actor: { kind: 'local', user: 'ops' }, via: 'cli' }],
  'tidemark.audit.retention_applied': [
    { actor: { kind: 'local', user: 'ops' }, via: 'cli', deleted: 2, tiered: 1 },
  ],
};

/** An event as a reader gets it: through JSON, as every bus carries it. */
function wire<T extends EventType>(type: T, data: EventDetails<T>): TidemarkEvent {
  const event = createEvent({ type, source: 'test', targetId: 'orders-db', backupId: BACKUP, data });
  return eventSchema.parse(JSON.parse(JSON.stringify(event)));
}

function rejection(type: EventType, data: unknown): string {
  try {
    parseEventDetails(type, data);
  } catch (caught) {
    assert.ok(caught instanceof InvalidEventError);
    return caught.message;
  }
  assert.fail(`${type}: ${JSON.stringify(data)} was accepted`);
}

describe('EVENTS: one contract per event type', () => {
  test('the types of DESIGN §6 and the README, in the order of a backup, each with a severity and a schema', () => {
    assert.deepEqual(EVENT_TYPES, [
      'tidemark.backup.requested',
      'tidemark.backup.dumped',
      'tidemark.backup.uploaded',
      'tidemark.backup.verified',
      'tidemark.backup.failed',
      'tidemark.backup.corrupt',
      'tidemark.backup.unverifiable',
      'tidemark.backup.overdue',
      'tidemark.retention.applied',
      'tidemark.restore.completed',
      'tidemark.restore.failed',
      'tidemark.storage.low_disk',
      'tidemark.schedule.restored',
      'tidemark.wal.archived',
      'tidemark.wal.archive_failed',
      'tidemark.wal.gap',
      'tidemark.notification.failed',
      'tidemark.drill.completed',
      'tidemark.drill.failed',
      'tidemark.audit.backup_requested',
      'tidemark.audit.restore_requested',
      'tidemark.audit.pinned',
      'tidemark.audit.unpinned',
      'tidemark.audit.retention_applied',
    ]);
    for (const type of EVENT_TYPES) {
      assert.equal(DEFAULT_SEVERITY[type], EVENTS[type].severity);
      assert.equal(typeof EVENTS[type].data.safeParse, 'function', `${type} has a data schema`);
    }
    assert.equal(isEventType('tidemark.backup.verified'), true);
    assert.equal(isEventType('tidemark.backup.exploded'), false);
    assert.equal(isEventType('toString'), false);
  });

  test("every emit site's data parses, is a valid envelope and reads back typed", () => {
    for (const type of EVENT_TYPES) {
      const samples: unknown[] = SAMPLES[type];
      assert.ok(samples.length > 0, `${type} has samples`);
      for (const data of samples) {
        assert.doesNotThrow(() => parseEventDetails(type, data), `${type}: ${JSON.stringify(data)}`);
        const event = wire(type, data as EventDetails);
        assert.ok(isEvent(event, type), `${type} reads back as itself`);
        assert.equal(event.data.targetId, 'orders-db');
        for (const other of EVENT_TYPES.filter((t) => t !== type)) assert.equal(isEvent(event, other), false);
      }
    }
  });

  test('a wrong payload is rejected with an error naming the type and the field', () => {
    const failed = { stage: 'dump', attempts: 3, error };
    assert.match(
      rejection('tidemark.backup.failed', { ...failed, attempt: 3 }),
      /^invalid tidemark\.backup\.failed data: .*"attempt"/,
    );
    assert.match(
      rejection('tidemark.backup.failed', { ...failed, attempts: 'three' }),
      /^invalid tidemark\.backup\.failed data: attempts: /,
    );
    assert.match(
      rejection('tidemark.backup.failed', { stage: 'dump', attempts: 3 }),
      /^invalid tidemark\.backup\.failed data: error: /,
    );
    assert.match(
      rejection('tidemark.backup.failed', { ...failed, error: { code: '', message: 'x' } }),
      /data: error\.code: /,
    );
    assert.match(
      rejection('tidemark.backup.requested', { stage: 'dump', trigger: 'cron' }),
      /data: trigger: /,
    );
    assert.match(rejection('tidemark.backup.dumped', { stage: 'upload' }), /data: stage: /);
    assert.match(
      rejection('tidemark.schedule.restored', {
        ...SAMPLES['tidemark.schedule.restored'][0],
        nextRun: 'soon',
      }),
      /data: nextRun: /,
    );
    assert.match(
      rejection('tidemark.restore.completed', undefined),
      /^invalid tidemark\.restore\.completed data: /,
    );
  });

  test('an audit event names its actor by a kind it knows, with no room for a credential', () => {
    assert.match(
      rejection('tidemark.audit.backup_requested', { actor: { kind: 'root' }, via: 'api', coalesced: false }),
      /data: actor\.kind: /,
    );
    assert.match(
      rejection('tidemark.audit.backup_requested', {
        actor: { kind: 'api-key', name: 'ci', key: 'tmk_secret' },
        via: 'api',
        coalesced: false,
      }),
      /data: actor: .*"key"/,
    );
    assert.match(
      rejection('tidemark.audit.pinned', { actor: { kind: 'local', user: 'ops' }, via: 'cli', token: 'x' }),
      /data: .*"token"/,
    );
  });

  test('isEvent narrows the data; eventData gives it or undefined', () => {
    const event = wire('tidemark.backup.failed', { stage: 'upload', attempts: 8, error });
    if (!isEvent(event, 'tidemark.backup.failed')) assert.fail('a backup.failed event');
    const attempts: number = event.data.attempts;
    assert.equal(attempts, 8);
    assert.deepEqual(eventData(event, 'tidemark.backup.failed')?.error, error);
    assert.equal(eventData(event, 'tidemark.backup.verified'), undefined);
    const dumped = wire('tidemark.backup.dumped', SAMPLES['tidemark.backup.dumped'][1] ?? assert.fail());
    assert.deepEqual(eventData(dumped, 'tidemark.backup.dumped')?.run?.members, [BACKUP]);
  });

  test('a reader accepts fields it does not know (a newer writer) but not data that breaks the type', () => {
    const event = wire('tidemark.backup.failed', { stage: 'dump', attempts: 1, error });
    assert.equal(
      isEvent({ ...event, data: { ...event.data, addedLater: true } }, 'tidemark.backup.failed'),
      true,
    );
    const envelopeOnly = createEvent({ type: 'tidemark.backup.failed', source: 'test', targetId: 't' });
    assert.equal(isEvent(envelopeOnly, 'tidemark.backup.failed'), false);
    assert.equal(eventData(envelopeOnly, 'tidemark.backup.failed'), undefined);
  });
});
