import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createEvent, type EventDetails, type EventType, type TidemarkEvent } from '@tidemark/events';
import type { Channel, DeliveryResult, Notification, NotificationsSettings } from './channel-contract';
import { CONDITIONS, conditionOf } from './conditions';
import { humanAge } from './message';
import { Notifier, type NotificationFailure, type NotificationResult } from './notifier';
import { MemoryConditionStore, MemoryDeliveryClaims, MemoryDigestStore } from './notifier-state';
import { digestPattern } from './notifier-triggers';
import { routeEvent } from './routing';

class RecordingChannel implements Channel {
  readonly sent: Notification[] = [];
  constructor(
    readonly name: string,
    readonly kind = 'webhook',
    private readonly answer: () => DeliveryResult = () => ({
      ok: true,
      status: 200,
      attempts: 1,
      detail: 'HTTP 200',
    }),
  ) {}
  send(notification: Notification): Promise<DeliveryResult> {
    this.sent.push(notification);
    return Promise.resolve(this.answer());
  }
}

function event<T extends EventType>(
  type: T,
  targetId: string,
  data: EventDetails<T>,
  backupId?: string,
): TidemarkEvent {
  return createEvent({ type, source: 'test', targetId, backupId, data });
}

const failed = (targetId = 'orders-db', code = 'dump-failed') =>
  event(
    'tidemark.backup.failed',
    targetId,
    { stage: 'dump', attempts: 3, error: { code, message: 'pg_dump: connection refused' } },
    '20261207T020000Z-aaaaaa',
  );
const verified = (targetId = 'orders-db') =>
  event(
    'tidemark.backup.verified',
    targetId,
    {
      stage: 'verify',
      sizes: { compressed: 2048 },
      durations: { verify: 10 },
      checks: { checksum: true, structure: true, restoreTest: true },
    },
    '20261207T030000Z-bbbbbb',
  );

const SETTINGS: NotificationsSettings = {
  channels: {
    oncall: { type: 'pagerduty' },
    'ops-slack': { type: 'slack' },
    'audit-hook': { type: 'webhook' },
  },
  routes: [
    { match: { severity: ['critical', 'error'] }, channels: ['oncall', 'ops-slack'] },
    { match: { severity: ['error'], targets: ['orders-db'] }, channels: ['ops-slack'] },
    { match: { types: ['tidemark.backup.verified'] }, channels: ['audit-hook'], digest: 'daily' },
    { match: { types: ['tidemark.notification.failed'] }, channels: ['oncall', 'ops-slack'] },
  ],
  repeatAfter: '4h',
  digestTime: '08:00',
  dashboardUrl: 'https://grafana.example.com/d/tidemark',
};

function harness(settings = SETTINGS, answers: Record<string, () => DeliveryResult> = {}) {
  let now = new Date('2026-12-07T02:00:00Z');
  const channels = new Map<string, RecordingChannel>(
    Object.entries(settings.channels).map(([name, c]) => [
      name,
      new RecordingChannel(name, c.type, answers[name]),
    ]),
  );
  const counts: [string, NotificationResult][] = [];
  const failures: NotificationFailure[] = [];
  const state = {
    conditions: new MemoryConditionStore(),
    claims: new MemoryDeliveryClaims(),
    digests: new MemoryDigestStore(),
  };
  const make = (owner: string) =>
    new Notifier({
      settings,
      channels,
      ...state,
      lastVerified: {
        lastVerified: () =>
          Promise.resolve({ backupId: '20261206T020000Z-zzzzzz', verifiedAt: '2026-12-06T02:10:00Z' }),
      },
      publishFailure: (_event, failure) => {
        failures.push(failure);
        return Promise.resolve();
      },
      count: (channel, result) => counts.push([channel, result]),
      owner,
      now: () => now,
    });
  return {
    notifier: make('a'),
    replica: make('b'),
    channels,
    counts,
    failures,
    state,
    advance: (ms: number) => {
      now = new Date(now.getTime() + ms);
    },
    sent: (name: string) => channels.get(name)?.sent ?? [],
  };
}

describe('routing', () => {
  test('an event matching several routes goes to each channel once; digests collect instead', () => {
    const routed = routeEvent(SETTINGS, failed());
    assert.deepEqual(
      routed.channels.map((c) => c.channel),
      ['oncall', 'ops-slack'],
    );
    assert.deepEqual(routeEvent(SETTINGS, verified()), { channels: [], digests: [2] });
    assert.deepEqual(
      routeEvent(SETTINGS, failed('other-db')).channels.map((c) => c.channel),
      ['oncall', 'ops-slack'],
    );
    const warning = event('tidemark.storage.low_disk', 'orders-db', {
      stage: 'dump',
      sizes: { free: 1, needed: 2, reserve: 0 },
      path: '/x',
    });
    assert.deepEqual(routeEvent(SETTINGS, warning), { channels: [], digests: [] });
  });

  test("repeatAfter: the route's over the config's over 4 h", () => {
    assert.equal(routeEvent(SETTINGS, failed()).channels[0]?.repeatAfterMs, 4 * 3600_000);
    const settings = {
      ...SETTINGS,
      repeatAfter: '30m',
      routes: [
        { match: {}, channels: ['oncall'], repeatAfter: '1d' },
        { match: {}, channels: ['ops-slack'] },
      ],
    };
    assert.deepEqual(routeEvent(settings, failed()).channels, [
      { channel: 'oncall', repeatAfterMs: 86_400_000 },
      { channel: 'ops-slack', repeatAfterMs: 1_800_000 },
    ]);
    const compound = { ...SETTINGS, routes: [{ match: {}, channels: ['oncall'], repeatAfter: '1d12h' }] };
    assert.equal(routeEvent(compound, failed()).channels[0]?.repeatAfterMs, 36 * 3600_000);
  });

  test('notification.failed never goes to the channel that failed', () => {
    const notice = event('tidemark.notification.failed', 'orders-db', {
      channel: 'oncall',
      channelKind: 'pagerduty',
      notificationId: 'n',
      dedupKey: 'k',
      attempts: 3,
      status: 500,
      reason: 'HTTP 500',
    });
    assert.deepEqual(
      routeEvent(SETTINGS, notice).channels.map((c) => c.channel),
      ['ops-slack'],
    );
  });
});

describe('conditions', () => {
  test('target + type + code; recoveries resolve; facts are neither', () => {
    assert.deepEqual(conditionOf(failed()), {
      role: 'raise',
      key: 'tidemark/orders-db/tidemark.backup.failed/dump-failed',
      type: 'tidemark.backup.failed',
      code: 'dump-failed',
    });
    assert.equal(conditionOf(verified()).role, 'resolve');
    const overdue = (recovered: boolean) =>
      event('tidemark.backup.overdue', 'orders-db', {
        rpoHours: 25,
        ageSeconds: 100_000,
        lastVerifiedBackupId: null,
        reason: 'rpo-exceeded',
        level: recovered ? 'ok' : 'warning',
        previousLevel: recovered ? 'warning' : 'ok',
        ...(recovered && { recovered }),
      });
    assert.equal(conditionOf(overdue(false)).role, 'raise');
    assert.deepEqual(conditionOf(overdue(true)), { role: 'resolve', resolves: ['tidemark.backup.overdue'] });
    assert.equal(
      conditionOf(event('tidemark.backup.requested', 'a', { stage: 'dump', trigger: 'manual' })).role,
      'fact',
    );
  });

  test('every runbook anchor of the table is a section of deploy/runbooks.md', () => {
    const runbooks = readFileSync(join(__dirname, '..', '..', '..', 'deploy', 'runbooks.md'), 'utf8');
    const anchors = new Set(
      runbooks
        .split('\n')
        .filter((l) => l.startsWith('## '))
        .map((l) =>
          l
            .slice(3)
            .trim()
            .toLowerCase()
            .replace(/[^a-z0-9 -]/g, '')
            .replaceAll(' ', '-'),
        ),
    );
    const used = Object.entries(CONDITIONS).flatMap(([type, spec]) =>
      spec.runbook ? [[type, spec.runbook] as const] : [],
    );
    assert.ok(used.length >= 8);
    for (const [type, anchor] of used)
      assert.ok(anchors.has(anchor), `${type}: no section #${anchor} in runbooks.md`);
  });
});

describe('Notifier: no storms, no silence', () => {
  test('raise once per channel, nothing within repeatAfter, a repeat after it, resolve once with the same key', async () => {
    const h = harness();
    const first = await h.notifier.handle(failed());
    assert.deepEqual(first.sent.sort(), ['oncall', 'ops-slack']);
    const [raise] = h.sent('oncall');
    assert.equal(raise?.kind, 'raise');
    assert.equal(raise.dedupKey, 'tidemark/orders-db/tidemark.backup.failed/dump-failed');

    h.advance(3600_000);
    const second = await h.notifier.handle(failed());
    assert.deepEqual(second.sent, []);
    assert.deepEqual(second.suppressed.sort(), ['oncall', 'ops-slack']);

    h.advance(3 * 3600_000);
    await h.notifier.handle(failed());
    const repeat = h.sent('oncall')[1];
    assert.equal(repeat?.kind, 'repeat');
    assert.equal(repeat.dedupKey, raise.dedupKey);
    assert.ok(repeat.facts.some((f) => f.label === 'Occurrences' && f.value === '3'));

    const resolved = await h.notifier.handle(verified());
    assert.deepEqual(resolved.sent.sort(), ['oncall', 'ops-slack']);
    const resolve = h.sent('oncall')[2];
    assert.equal(resolve?.kind, 'resolve');
    assert.equal(resolve.dedupKey, raise.dedupKey);
    assert.equal(resolve.severity, 'info');
    assert.match(resolve.title, /^Resolved: orders-db backup failed \(dump-failed\)/);

    // Resolved means cleared: the next verified backup resolves nothing, the next failure raises afresh.
    assert.deepEqual((await h.notifier.handle(verified())).sent, []);
    await h.notifier.handle(failed());
    assert.equal(h.sent('oncall')[3]?.kind, 'raise');
    assert.deepEqual(
      h.counts.filter(([c]) => c === 'oncall').map(([, r]) => r),
      ['sent', 'suppressed', 'sent', 'sent', 'sent'],
    );
  });

  test('a different code is a different condition; another target is another', async () => {
    const h = harness();
    await h.notifier.handle(failed());
    await h.notifier.handle(failed('orders-db', 'verify-failed'));
    await h.notifier.handle(failed('other-db'));
    assert.equal(h.sent('oncall').length, 3);
  });

  test('a redelivered event is delivered once, also by another replica; a crash after deciding still sends', async () => {
    const h = harness();
    const e = failed();
    await h.notifier.handle(e);
    const again = await h.replica.handle(e);
    assert.deepEqual(again.skipped.sort(), ['oncall', 'ops-slack']);
    assert.equal(h.sent('oncall').length, 1);

    // The state says "raised by this event" but nothing was delivered (a crash in between): the redelivery sends.
    const lost = failed('lost-db');
    await h.state.conditions.change('lost-db', () => ({
      result: null,
      write: [
        {
          channel: 'oncall',
          key: 'tidemark/lost-db/tidemark.backup.failed/dump-failed',
          type: 'tidemark.backup.failed',
          code: 'dump-failed',
          raisedAt: lost.time,
          lastSentAt: lost.time,
          count: 1,
          lastEventId: lost.id,
          lastKind: 'raise',
        },
      ],
      forget: [],
    }));
    const redelivered = await h.replica.handle(lost);
    assert.ok(redelivered.sent.includes('oncall'));
  });

  test('a raise whose replica died mid-delivery is still sent when it comes again after a suppressed failure', async () => {
    const h = harness();
    const first = failed();
    // Replica b decided the raise and claimed oncall, then died before sending: its claim expires later.
    await h.state.claims.claim(first.id, 'oncall', 'b');
    await assert.rejects(h.notifier.handle(first), /being delivered by another replica/);
    await h.notifier.handle(failed()); // a second failure meanwhile: suppressed (the condition is raised)
    await h.state.claims.release(first.id, 'oncall', 'b'); // what the claim's TTL does for a dead holder
    const again = await h.notifier.handle(first);
    assert.deepEqual(again.sent, ['oncall']);
    assert.deepEqual(again.skipped, ['ops-slack']);
    assert.equal(h.sent('oncall').length, 1);
    assert.equal(h.sent('oncall')[0]?.kind, 'raise');
  });

  test('a delivery held by another replica makes the event come again (it throws), and then it is done', async () => {
    const h = harness();
    const e = failed();
    await h.state.claims.claim(e.id, 'oncall', 'b');
    await assert.rejects(h.notifier.handle(e), /oncall: .* is being delivered by another replica/);
    assert.equal(h.sent('ops-slack').length, 1);
    await h.state.claims.done(e.id, 'oncall');
    const again = await h.notifier.handle(e);
    assert.deepEqual(again.skipped.sort(), ['oncall', 'ops-slack']);
  });

  test('a channel that gives up: counted failed, notification.failed published without URL, never for a failure notice', async () => {
    const h = harness(SETTINGS, {
      'ops-slack': () => ({
        ok: false,
        status: 503,
        attempts: 5,
        detail: 'HTTP 503 from https://hooks.slack.com/services/T0/B0/SECRET',
      }),
    });
    const result = await h.notifier.handle(failed());
    assert.deepEqual(result.failed, ['ops-slack']);
    assert.equal(h.failures.length, 1);
    const failure = h.failures[0];
    assert.equal(failure?.channel, 'ops-slack');
    assert.equal(failure.channelKind, 'slack');
    assert.equal(failure.status, 503);
    assert.equal(failure.attempts, 5);
    assert.equal(failure.dedupKey, 'tidemark/orders-db/tidemark.backup.failed/dump-failed');
    assert.doesNotMatch(failure.reason, /SECRET/);
    assert.ok(h.counts.some(([c, r]) => c === 'ops-slack' && r === 'failed'));

    const notice = event('tidemark.notification.failed', 'orders-db', { ...failure });
    const told = await h.notifier.handle(notice);
    assert.deepEqual(told.sent, ['oncall']);
    assert.equal(h.sent('ops-slack').length, 1, 'the failed channel is not told of its own failure');
    assert.equal(h.failures.length, 1);
  });

  test('a failing notice channel does not publish another notice (no ping-pong between two dead channels)', async () => {
    const dead = () => ({ ok: false, attempts: 3, detail: 'timed out' });
    const h = harness(SETTINGS, { oncall: dead, 'ops-slack': dead });
    const notice = event('tidemark.notification.failed', 'orders-db', {
      channel: 'oncall',
      channelKind: 'pagerduty',
      notificationId: 'n',
      dedupKey: 'k',
      attempts: 3,
      status: null,
      reason: 'timed out',
    });
    const result = await h.notifier.handle(notice);
    assert.deepEqual(result.failed, ['ops-slack']);
    assert.equal(h.failures.length, 0);
  });

  test('the message: target, stage, code, message, attempts, when, last verified + age, commands, dashboard, runbook', async () => {
    const h = harness();
    await h.notifier.handle(failed());
    const message = h.sent('ops-slack')[0];
    assert.ok(message);
    assert.equal(message.title, 'orders-db: backup failed at dump (dump-failed)');
    assert.equal(message.summary, 'pg_dump: connection refused');
    const facts = Object.fromEntries(message.facts.map((f) => [f.label, f.value]));
    assert.equal(facts['Target'], 'orders-db');
    assert.equal(facts['Stage'], 'dump');
    assert.equal(facts['Error code'], 'dump-failed');
    assert.equal(facts['Attempts'], '3');
    assert.equal(facts['Last verified backup'], '20261206T020000Z-zzzzzz (23 h 50 min ago)');
    assert.equal(facts['Runbook'], 'deploy/runbooks.md#tidemarkbackupfailed');
    assert.deepEqual(message.commands, [
      'tidemark events --target orders-db',
      'tidemark show 20261207T020000Z-aaaaaa',
      'tidemark backup orders-db --wait',
    ]);
    assert.deepEqual(message.links, [{ label: 'Dashboard', url: 'https://grafana.example.com/d/tidemark' }]);
    assert.equal(humanAge(90_061_000), '1 d 1 h');
  });

  test('a failed drill raises by why (RTO breach), with the RTO and each failed check; a passed drill resolves it', async () => {
    const drill = {
      stage: 'drill' as const,
      drillId: '20261207T040000Z-d1',
      report: 'orders-db/drills/20261207T040000Z-d1.json',
      tier: 'Cold' as const,
      rehydrated: false,
      durations: { rehydrate: 0, download: 1200, restore: 30000, checks: 800 },
    };
    const breach = event(
      'tidemark.drill.failed',
      'orders-db',
      {
        ...drill,
        rto: { seconds: 4210, targetSeconds: 3600, breached: true },
        failed: [{ name: 'rto', expected: '<= 3600 s', actual: '4210 s' }],
      },
      '20261101T020000Z-aaaaaa',
    );
    assert.deepEqual(conditionOf(breach), {
      role: 'raise',
      key: 'tidemark/orders-db/tidemark.drill.failed/rto-breached',
      type: 'tidemark.drill.failed',
      code: 'rto-breached',
    });
    const h = harness();
    await h.notifier.handle(breach);
    const message = h.sent('ops-slack')[0];
    assert.ok(message);
    const facts = Object.fromEntries(message.facts.map((f) => [f.label, f.value]));
    assert.equal(facts['RTO'], '4210 s (target 3600 s)');
    assert.equal(facts['Failed: rto'], 'expected <= 3600 s, got 4210 s');
    assert.equal(facts['Runbook'], 'deploy/runbooks.md#tidemarkdrillfailed');
    assert.ok(message.commands.includes('tidemark drills orders-db'));
    const passed = event(
      'tidemark.drill.completed',
      'orders-db',
      { ...drill, rto: { seconds: 40, targetSeconds: 3600, breached: false } },
      '20261101T020000Z-aaaaaa',
    );
    assert.deepEqual(conditionOf(passed), { role: 'resolve', resolves: ['tidemark.drill.failed'] });
    await h.notifier.handle(passed);
    assert.equal(h.sent('ops-slack').at(-1)?.kind, 'resolve');
  });

  test('a catalog that cannot be read still sends, saying none', async () => {
    const h = harness();
    const notifier = new Notifier({
      settings: SETTINGS,
      channels: h.channels,
      ...h.state,
      owner: 'c',
      lastVerified: { lastVerified: () => Promise.reject(new Error('storage down')) },
      publishFailure: () => Promise.resolve(),
      count: () => undefined,
    });
    await notifier.handle(failed());
    assert.ok(
      h.sent('oncall')[0]?.facts.some((f) => f.label === 'Last verified backup' && f.value === 'none'),
    );
  });

  test('digest: collects matched events once each and sends one summary per run', async () => {
    const h = harness();
    const v = verified();
    await h.notifier.handle(v);
    await h.replica.handle(v);
    await h.notifier.handle(verified('other-db'));
    assert.equal(h.sent('audit-hook').length, 0, 'digest routes do not send per event');
    const digest = await h.notifier.sendDigest(2, 'run-1');
    assert.deepEqual(digest.sent, ['audit-hook']);
    const [summary] = h.sent('audit-hook');
    assert.equal(summary?.kind, 'digest');
    assert.equal(summary.title, 'Tidemark daily digest: 2 verified, 0 failed');
    assert.ok(summary.facts.some((f) => f.label === 'Verified backups' && f.value === '2 (4.0 KiB)'));
    // The same run again (a retried job) sends nothing more; the next run starts empty.
    assert.deepEqual((await h.notifier.sendDigest(2, 'run-1')).sent, []);
    await h.notifier.sendDigest(2, 'run-2');
    assert.equal(h.sent('audit-hook')[1]?.summary, 'No matching events in this period.');
    assert.deepEqual((await h.notifier.sendDigest(0, 'run-3')).sent, [], 'a route without digest has none');
  });
});

describe('digest schedule', () => {
  test('daily at digestTime, weekly on Mondays; a malformed time names the path', () => {
    assert.equal(digestPattern('daily', '08:00'), '0 8 * * *');
    assert.equal(digestPattern('weekly', '23:45'), '45 23 * * 1');
    assert.throws(() => digestPattern('daily', '25:00'), /notifications\.digestTime: "25:00" is not a time/);
  });
});
