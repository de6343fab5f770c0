import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createEvent, eventSchema } from './event';
import { DEFAULT_SEVERITY, EVENT_TYPES } from './event-types';

const REQUIRED_CLOUDEVENT_ATTRIBUTES = ['specversion', 'id', 'source', 'type'] as const;

describe('createEvent', () => {
  test('every event type yields a valid CloudEvents 1.0 envelope with its default severity', () => {
    assert.equal(EVENT_TYPES.length, 24);
    for (const type of EVENT_TYPES) {
      const event = createEvent({
        type,
        source: 'dumper',
        targetId: 'orders-db',
        backupId: '20261121T020000Z-k3f9xq',
      });
      const parsed = eventSchema.safeParse(event);
      assert.ok(parsed.success, `${type}: ${parsed.error?.message ?? ''}`);
      for (const attribute of REQUIRED_CLOUDEVENT_ATTRIBUTES) {
        assert.equal(typeof event[attribute], 'string', `${type} lacks ${attribute}`);
        assert.ok(event[attribute].length > 0);
      }
      assert.equal(event.specversion, '1.0');
      assert.equal(event.datacontenttype, 'application/json');
      assert.equal(event.source, '/tidemark/dumper');
      assert.equal(event.subject, 'orders-db/20261121T020000Z-k3f9xq');
      assert.equal(event.severity, DEFAULT_SEVERITY[type]);
      assert.ok(!Number.isNaN(Date.parse(event.time)));
      assert.deepEqual(event.data, { targetId: 'orders-db', backupId: '20261121T020000Z-k3f9xq' });
    }
  });

  test('default severities follow the design', () => {
    const severity = (type: (typeof EVENT_TYPES)[number]) =>
      createEvent({ type, source: 's', targetId: 't' }).severity;
    assert.equal(severity('tidemark.backup.requested'), 'info');
    assert.equal(severity('tidemark.backup.verified'), 'info');
    assert.equal(severity('tidemark.retention.applied'), 'info');
    assert.equal(severity('tidemark.restore.completed'), 'info');
    assert.equal(severity('tidemark.backup.overdue'), 'warning');
    assert.equal(severity('tidemark.storage.low_disk'), 'warning');
    assert.equal(severity('tidemark.schedule.restored'), 'warning');
    assert.equal(severity('tidemark.backup.failed'), 'error');
    assert.equal(severity('tidemark.restore.failed'), 'error');
    assert.equal(severity('tidemark.backup.unverifiable'), 'error');
    assert.equal(severity('tidemark.backup.corrupt'), 'critical');
  });

  test('without a backup the subject is the target; an explicit severity and a full source are kept', () => {
    const event = createEvent({
      type: 'tidemark.backup.overdue',
      source: '/tidemark/scheduler',
      targetId: 'orders-db',
      severity: 'critical',
      data: {
        rpoHours: 25,
        ageSeconds: 90_000,
        lastVerifiedBackupId: null,
        reason: 'rpo-exceeded',
        level: 'critical',
        previousLevel: 'warning',
      },
    });
    assert.equal(event.subject, 'orders-db');
    assert.equal(event.source, '/tidemark/scheduler');
    assert.equal(event.severity, 'critical');
    assert.equal('backupId' in event.data, false);
    assert.deepEqual(event.data, {
      targetId: 'orders-db',
      rpoHours: 25,
      ageSeconds: 90_000,
      lastVerifiedBackupId: null,
      reason: 'rpo-exceeded',
      level: 'critical',
      previousLevel: 'warning',
    });
    assert.ok(eventSchema.safeParse(event).success);
  });

  test('ids are unique uuids', () => {
    const a = createEvent({ type: 'tidemark.backup.requested', source: 's', targetId: 't' });
    const b = createEvent({ type: 'tidemark.backup.requested', source: 's', targetId: 't' });
    assert.notEqual(a.id, b.id);
    assert.match(a.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('an error message in the data is redacted', () => {
    const event = createEvent({
      type: 'tidemark.backup.failed',
      source: 'dumper',
      targetId: 'orders-db',
      backupId: '20261121T020000Z-k3f9xq',
      data: {
        stage: 'dump',
        attempts: 3,
        error: { code: 'ECONNREFUSED', message: 'connect postgres://app:hunter2@db:5432 failed' },
      },
    });
    assert.deepEqual(event.data.error, {
      code: 'ECONNREFUSED',
      message: 'connect postgres://app:***@db:5432 failed',
    });
  });
});

describe('eventSchema', () => {
  const valid = () =>
    createEvent({ type: 'tidemark.backup.dumped', source: 'dumper', targetId: 'orders-db' });

  test('rejects envelopes that break the contract', () => {
    assert.ok(eventSchema.safeParse(valid()).success);
    assert.equal(eventSchema.safeParse({ ...valid(), specversion: '0.3' }).success, false);
    assert.equal(eventSchema.safeParse({ ...valid(), type: 'tidemark.backup.exploded' }).success, false);
    assert.equal(eventSchema.safeParse({ ...valid(), severity: 'fatal' }).success, false);
    assert.equal(eventSchema.safeParse({ ...valid(), id: 'not-a-uuid' }).success, false);
    assert.equal(eventSchema.safeParse({ ...valid(), source: 'dumper' }).success, false);
    assert.equal(eventSchema.safeParse({ ...valid(), time: 'yesterday' }).success, false);
    assert.equal(eventSchema.safeParse({ ...valid(), data: {} }).success, false);
    assert.equal(
      eventSchema.safeParse({ ...valid(), data: { targetId: 't', sizes: { raw: 'big' } } }).success,
      false,
    );
  });

  test('keeps extra data fields', () => {
    const event = createEvent({ type: 'tidemark.retention.applied', source: 'retention', targetId: 't' });
    const parsed = eventSchema.parse(
      JSON.parse(JSON.stringify({ ...event, data: { ...event.data, extra: 3 } })),
    );
    assert.equal(parsed.data['extra'], 3);
  });
});
