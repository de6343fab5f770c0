import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventSchema, type TidemarkEvent } from '@tidemark/events';
import { startBroker, type BrokerHandle, type BrokerMessage } from '@tidemark/service-bus-broker';
import { uniqueName, waitFor } from '@tidemark/testing';
import { dbUrl, dropDatabase, withClient } from './support/database';
import { TestStack } from './support/stack';

const TOPIC = 'tidemark-events';

const CONFIG = `
storage: { container: e2e-servicebus }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  quick:
    schedule: "0 4 * * *"
    verify: { restoreTest: false }
    retention: { remote: { keepLast: 1, daily: 0, weekly: 0, monthly: 0, yearly: 0 } }
targets:
  - { id: sb-db, kind: postgres, url: "\${SB_DB_URL}", policy: quick }
  - { id: down-db, kind: postgres, url: "postgres://postgres@127.0.0.1:1/nowhere", policy: quick }
`;

describe('events over Azure Service Bus (real SDK against the test broker) with all five services', () => {
  const database = uniqueName('e2esb');
  let broker: BrokerHandle;
  let stack: TestStack;

  const eventsOn = (subscription: string): TidemarkEvent[] =>
    broker.messages(TOPIC, subscription).active.map((m: BrokerMessage) => eventSchema.parse(m.body));
  const backupIdOf = (stdout: string): string => {
    const m = /(\d{8}T\d{6}Z-[0-9a-z]{6})/.exec(stdout);
    assert.ok(m, `no backup id in: ${stdout}`);
    return m[1] as string;
  };

  before(async () => {
    await withClient(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE ${database}`));
    await withClient(dbUrl(database), (c) =>
      c.query(
        `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 5000) i`,
      ),
    );
    broker = await startBroker();
    broker.createTopic(TOPIC);
    broker.createSubscription(TOPIC, 'audit');
    broker.createSubscription(TOPIC, 'alerts', { filter: "severity IN ('error','critical')" });
    broker.createSubscription(TOPIC, 'retention', { filter: "type = 'tidemark.backup.verified'" });
    broker.createSubscription(TOPIC, 'cli');
    stack = await TestStack.start({
      config: CONFIG,
      env: { SB_DB_URL: dbUrl(database), AZURE_SERVICEBUS_CONNECTION_STRING: broker.connectionString },
      redisDb: 8,
    });
  });

  after(async () => {
    await stack.stop();
    await broker.stop();
    await dropDatabase(database);
  });

  test('a successful backup yields the stage events in order on the audit subscription, as CloudEvents', async () => {
    const result = await stack.cli(['backup', 'sb-db', '--wait', '--timeout', '120']);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const backupId = backupIdOf(result.stdout);
    const ofBackup = await waitFor(
      () => {
        const found = broker
          .messages(TOPIC, 'audit')
          .active.filter((m) => m.applicationProperties['backupId'] === backupId)
          // The pipeline's facts; the CLI's record of the trigger (tidemark.audit.*) comes in no fixed place.
          .filter((m) => String(m.subject).startsWith('tidemark.backup.'));
        return Promise.resolve(found.length >= 4 ? found : undefined);
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'four stage events on audit' },
    );
    assert.deepEqual(
      ofBackup.map((m) => m.subject),
      [
        'tidemark.backup.requested',
        'tidemark.backup.dumped',
        'tidemark.backup.uploaded',
        'tidemark.backup.verified',
      ],
    );
    for (const message of ofBackup) {
      const event = eventSchema.parse(message.body);
      assert.equal(message.contentType, 'application/cloudevents+json');
      assert.equal(message.messageId, event.id, 'duplicate detection keys on the CloudEvent id');
      assert.equal(message.applicationProperties['type'], event.type);
      assert.equal(message.applicationProperties['severity'], event.severity);
      assert.equal(message.applicationProperties['targetId'], 'sb-db');
    }
    const audited = broker
      .messages(TOPIC, 'audit')
      .active.filter(
        (m) =>
          m.applicationProperties['backupId'] === backupId && m.subject === 'tidemark.audit.backup_requested',
      );
    assert.equal(audited.length, 1, 'the CLI recorded the trigger once, over Service Bus too');
    assert.equal(
      eventsOn('alerts').filter((e) => e.data.backupId === backupId).length,
      0,
      'no alert for a good backup',
    );
  });

  test('retention is driven by backup.verified arriving over Service Bus', async () => {
    await waitFor(
      () =>
        Promise.resolve(
          eventsOn('audit').some(
            (e) => e.type === 'tidemark.retention.applied' && e.data.targetId === 'sb-db',
          ),
        ),
      { timeoutMs: 60_000, intervalMs: 250, what: 'retention.applied for sb-db' },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nretention log:\n${stack.logs('retention').slice(-4000)}`);
    });
    await waitFor(
      () => Promise.resolve(broker.messages(TOPIC, 'retention').active.length === 0 || undefined),
      {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: 'the retention subscription to be drained (completed)',
      },
    );
  });

  test('a failed backup yields exactly one event on the alerts subscription', async () => {
    const result = await stack.cli(['backup', 'down-db', '--wait', '--timeout', '120']);
    assert.equal(result.code, 1);
    const backupId = backupIdOf(result.stdout);
    const alerts = await waitFor(
      () => {
        const found = eventsOn('alerts').filter((e) => e.data.backupId === backupId);
        return Promise.resolve(found.length > 0 ? found : undefined);
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the failure on alerts' },
    );
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(eventsOn('alerts').filter((e) => e.data.backupId === backupId).length, 1);
    const [first] = alerts;
    assert.ok(first);
    assert.equal(first.type, 'tidemark.backup.failed');
    assert.equal(first.data.error?.code, 'source-unreachable');
  });

  test('with the broker down for a while, backups go on and every event arrives once it is back', async () => {
    await broker.stop();
    let backupId = '';
    try {
      const started = await stack.cli(['backup', 'sb-db', '--json']);
      assert.equal(started.code, 0, started.stderr);
      backupId = (JSON.parse(started.stdout) as { backupId: string }).backupId;
      await waitFor(
        async () => {
          const shown = await stack.cli(['show', backupId]);
          return shown.code === 0 && (JSON.parse(shown.stdout) as { status: string }).status === 'verified';
        },
        { timeoutMs: 120_000, intervalMs: 1000, what: 'the backup to be verified while the broker is down' },
      );
    } finally {
      await broker.start();
    }
    const delivered = await waitFor(
      () => {
        const found = broker
          .messages(TOPIC, 'audit')
          .active.filter((m) => m.applicationProperties['backupId'] === backupId)
          .filter((m) => String(m.subject).startsWith('tidemark.backup.'));
        return Promise.resolve(found.length >= 4 ? found : undefined);
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the buffered events after the outage' },
    );
    // The CLI's record of the trigger went into the same Redis outbox (the services forward it): not lost either.
    await waitFor(
      () =>
        Promise.resolve(
          broker
            .messages(TOPIC, 'audit')
            .active.some(
              (m) =>
                m.applicationProperties['backupId'] === backupId &&
                m.subject === 'tidemark.audit.backup_requested',
            ),
        ),
      { timeoutMs: 60_000, intervalMs: 500, what: "the CLI's audit event after the outage" },
    );
    assert.deepEqual(
      delivered.map((m) => m.subject),
      [
        'tidemark.backup.requested',
        'tidemark.backup.dumped',
        'tidemark.backup.uploaded',
        'tidemark.backup.verified',
      ],
    );
  });
});
