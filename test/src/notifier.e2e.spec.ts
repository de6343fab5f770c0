import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { startBroker, type BrokerHandle } from '@tidemark/service-bus-broker';
import { webhookSignature } from '@tidemark/notification-channels';
import { waitFor } from '@tidemark/testing';
import { QUEUE_PREFIX } from '@tidemark/queues';
import { Queue } from 'bullmq';
import { SMTPServer } from 'smtp-server';
import { backupIdOf } from './support/outage-probe';
import { REPO_ROOT, TestStack } from './support/stack';

// The notifier against real local receivers (HTTP servers for Teams, Slack, PagerDuty and webhooks, an SMTP server
// for e-mail), two replicas, on Redis DB 5. A directory target that does not exist fails for good; once it exists,
// its next backup is verified and resolves what the failure raised.
const TEAMS_TOKEN = 'teams-e2e-canary-1a2b';
const SLACK_TOKEN = 'slack-e2e-canary-3c4d';
const PD_ROUTING_KEY = 'Re2ecanary0123456789abcdefABCDEF';
const HOOK_SECRET = 'hook-e2e-signing-canary';
const SMTP_PASSWORD = 'smtp-e2e-canary-pw';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

const received: Received[] = [];
const mails: { text: string; at: number }[] = [];
/** Per path prefix, what it answers in turn (the last repeats); `hang` never answers. */
const script = new Map<string, (number | 'hang')[]>([
  ['/flaky/', [500, 500, 500, 200]],
  ['/dead/', ['hang']],
  ['/pagerduty/', [202]],
]);

function startHttp(): Server {
  return createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const prefix = [...script.keys()].find((p) => path.startsWith(p));
      const earlier = received.filter((r) => prefix !== undefined && r.path.startsWith(prefix)).length;
      received.push({
        path,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      const answers = prefix ? (script.get(prefix) ?? [200]) : [200];
      const answer = answers[Math.min(earlier, answers.length - 1)] ?? 200;
      if (answer === 'hang') return; // the notifier's attempt timeout ends it
      response.writeHead(answer, { 'content-type': 'application/json' });
      response.end(answer < 300 ? '{"status":"success"}' : '{"error":"try later"}');
    });
  });
}

function startSmtp(): SMTPServer {
  return new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      if (auth.username === 'mailer' && auth.password === SMTP_PASSWORD) callback(null, { user: 'mailer' });
      else callback(new Error('bad credentials'));
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push({ text: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
        callback();
      });
    },
  });
}

function listen(server: { listen: (port: number, host: string, cb: () => void) => unknown }): Promise<void> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
}

const NOTIFICATIONS = (base: string) => `
notifications:
  dashboardUrl: https://grafana.example.com/d/tidemark
  channels:
    ops-teams:  { type: teams, url: "\${TEAMS_WORKFLOW_URL}" }
    ops-slack:  { type: slack, url: "\${SLACK_WEBHOOK_URL}" }
    oncall:     { type: pagerduty, routingKey: "\${PD_ROUTING_KEY}", url: "${base}/pagerduty/v2/enqueue" }
    dba-mail:   { type: email, smtp: "\${SMTP_URL}", from: backups@example.com, to: [dba@example.com] }
    audit-hook: { type: webhook, url: "\${HOOK_URL}", secret: "\${HOOK_SECRET}" }
    flaky-hook: { type: webhook, url: "\${FLAKY_HOOK_URL}" }
    dead-hook:  { type: webhook, url: "\${DEAD_HOOK_URL}" }
  routes:
    - { match: { types: [tidemark.backup.failed] }, channels: [oncall, ops-teams, ops-slack, dba-mail, audit-hook, flaky-hook, dead-hook] }
    - { match: { types: [tidemark.notification.failed] }, channels: [ops-slack, dead-hook] }
    - { match: { types: [tidemark.backup.verified] }, channels: [audit-hook], digest: daily }
`;

const CONFIG = (base: string) => `
storage: { container: e2e-notifier }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  quick:
    schedule: "0 4 * * *"
    verify: { restoreTest: false }
targets:
  - { id: files, kind: directory, url: "\${FILES_DIR}", policy: quick }
${NOTIFICATIONS(base)}`;

function channelEnv(base: string, smtpPort: number): NodeJS.ProcessEnv {
  return {
    TEAMS_WORKFLOW_URL: `${base}/teams/workflows/${TEAMS_TOKEN}`,
    SLACK_WEBHOOK_URL: `${base}/slack/services/${SLACK_TOKEN}`,
    PD_ROUTING_KEY,
    SMTP_URL: `smtp://mailer:${SMTP_PASSWORD}@127.0.0.1:${smtpPort}`,
    HOOK_URL: `${base}/hook/audit`,
    HOOK_SECRET,
    FLAKY_HOOK_URL: `${base}/flaky/hook`,
    DEAD_HOOK_URL: `${base}/dead/hook`,
  };
}

const to = (prefix: string): Received[] => received.filter((r) => r.path.startsWith(prefix));
const json = (r: Received | undefined): Record<string, unknown> => {
  assert.ok(r, 'a request arrived');
  return JSON.parse(r.body) as Record<string, unknown>;
};
/** Requests to a channel that are about the backup failure (not the notification.failed that follows it). */
const aboutFailure = (prefix: string): Received[] =>
  to(prefix).filter((r) => r.body.includes('backup failed') && !r.body.includes('Resolved'));

/** A counter summed over every notifier replica's /metrics. */
async function notifications(stack: TestStack, channel: string, result: string): Promise<number> {
  let total = 0;
  for (const replica of stack.replicasOf('notifier')) {
    const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('tidemark_notifications_total{') &&
          l.includes(`channel="${channel}"`) &&
          l.includes(`result="${result}"`),
      );
    total += line ? Number(line.split(' ').at(-1)) : 0;
  }
  return total;
}

describe('notifier: routed, deduplicated, resolved, across two replicas', () => {
  let http: Server;
  let smtp: SMTPServer;
  let stack: TestStack;
  let bus: RedisStreamEventBus;
  let dir = '';
  let filesDir = '';
  let failure: TidemarkEvent | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-notifier-e2e-'));
    filesDir = join(dir, 'files'); // missing until the recovery test creates it
    http = startHttp();
    await listen(http);
    smtp = startSmtp();
    await listen(smtp);
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    stack = await TestStack.start({
      config: CONFIG(base),
      env: {
        ...channelEnv(base, (smtp.server.address() as AddressInfo).port),
        FILES_DIR: filesDir,
        TIDEMARK_NOTIFY_TIMEOUT_MS: '1000',
        TIDEMARK_NOTIFY_RETRY_DELAY_MS: '100',
      },
      redisDb: 5,
      notifier: 2,
    });
    bus = new RedisStreamEventBus(stack.redisUrl);
  });

  after(async () => {
    await bus.close();
    await stack.stop();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await new Promise<void>((resolve) => {
      smtp.close(() => {
        resolve();
      });
    });
    await rm(dir, { recursive: true, force: true });
  });

  test('a backup that fails for good: exactly one message per routed channel, in each channel’s format', async (t) => {
    const result = await stack.cli(['backup', 'files', '--wait', '--timeout', '120']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const backupId = backupIdOf(result.stdout);
    failure = (await bus.history({ backupId }))
      .map((e) => e.event)
      .find((e) => e.type === 'tidemark.backup.failed');
    assert.ok(failure, 'backup.failed published');
    await waitFor(
      () =>
        Promise.resolve(
          aboutFailure('/teams/').length > 0 &&
            aboutFailure('/slack/').length > 0 &&
            to('/pagerduty/').length > 0 &&
            to('/hook/').length > 0 &&
            mails.length > 0 &&
            to('/flaky/').length >= 4,
        ),
      { timeoutMs: 60_000, intervalMs: 200, what: 'every channel told' },
    );
    // The dead hook is given up on last (five timed-out attempts): by then any duplicate would have arrived.
    await waitFor(async () => (await notifications(stack, 'dead-hook', 'failed')) === 1, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'dead-hook given up',
    });
    assert.equal(aboutFailure('/teams/').length, 1);
    assert.equal(aboutFailure('/slack/').length, 1);
    assert.equal(to('/pagerduty/').length, 1);
    assert.equal(to('/hook/').length, 1);
    assert.equal(mails.length, 1);

    const teams = json(aboutFailure('/teams/')[0]) as {
      attachments: { content: { type: string; body: { text?: string }[] } }[];
    };
    assert.equal(teams.attachments[0]?.content.type, 'AdaptiveCard');
    assert.match(JSON.stringify(teams), /files: backup failed at dump \(source-missing-database\)/);
    assert.match(JSON.stringify(teams), /tidemark backup files --wait/);
    assert.match(JSON.stringify(teams), /deploy\/runbooks\.md#tidemarkbackupfailed/);
    const slack = json(aboutFailure('/slack/')[0]) as { blocks: unknown[] };
    assert.ok(slack.blocks.length > 0, 'Block Kit');
    assert.match(JSON.stringify(slack), new RegExp(`tidemark show ${backupId}`));
    const pd = json(to('/pagerduty/')[0]) as {
      routing_key: string;
      event_action: string;
      dedup_key: string;
      payload: { severity: string };
    };
    assert.equal(pd.routing_key, PD_ROUTING_KEY);
    assert.equal(pd.event_action, 'trigger');
    assert.equal(pd.dedup_key, 'tidemark/files/tidemark.backup.failed/source-missing-database');
    assert.equal(pd.payload.severity, 'error');
    const hook = to('/hook/')[0];
    assert.ok(hook);
    assert.equal(hook.headers['x-tidemark-signature'], webhookSignature(hook.body, HOOK_SECRET));
    assert.match(String(hook.headers['content-type']), /^application\/cloudevents\+json/);
    assert.match(mails[0]?.text ?? '', /backup failed/);

    // 500, 500, 500, then 200: retried with backoff and delivered once.
    assert.deepEqual(
      to('/flaky/').map((r) => r.path),
      ['/flaky/hook', '/flaky/hook', '/flaky/hook', '/flaky/hook'],
    );
    assert.equal(await notifications(stack, 'flaky-hook', 'sent'), 1);

    // The receiver that never answers: notification.failed (no URL in it), the metric, and it is told elsewhere.
    const notices = (await bus.history({ targetId: 'files' }))
      .map((e) => e.event)
      .filter((e) => e.type === 'tidemark.notification.failed');
    assert.equal(notices.length, 1);
    const notice = notices[0];
    assert.equal(notice?.data['channel'], 'dead-hook');
    assert.equal(notice.data['channelKind'], 'webhook');
    assert.equal(notice.data['status'], null);
    assert.equal(notice.data['attempts'], 5);
    assert.doesNotMatch(JSON.stringify(notice), /127\.0\.0\.1|\/dead\/hook/);
    await waitFor(() => Promise.resolve(to('/slack/').some((r) => r.body.includes('notification failed'))), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'the failure told on Slack',
    });
    assert.equal(to('/dead/').length, 5, 'never told of its own failure');

    // Event → receiver latency (the first attempt at each receiver).
    const sent = Date.parse(failure.time);
    const firsts = {
      teams: aboutFailure('/teams/')[0]?.at,
      slack: aboutFailure('/slack/')[0]?.at,
      pagerduty: to('/pagerduty/')[0]?.at,
      webhook: to('/hook/')[0]?.at,
      email: mails[0]?.at,
    };
    t.diagnostic(
      `event→receiver latency (ms): ${JSON.stringify(Object.fromEntries(Object.entries(firsts).map(([k, v]) => [k, (v ?? NaN) - sent])))}`,
    );
  });

  test('a second failure within repeatAfter sends nothing (suppressed on every channel)', async () => {
    const before = received.length;
    const mailsBefore = mails.length;
    const result = await stack.cli(['backup', 'files', '--wait', '--timeout', '120']);
    assert.equal(result.code, 1);
    await waitFor(async () => (await notifications(stack, 'oncall', 'suppressed')) === 1, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'the second failure handled',
    });
    for (const channel of ['ops-teams', 'ops-slack', 'dba-mail', 'audit-hook', 'flaky-hook', 'dead-hook'])
      await waitFor(async () => (await notifications(stack, channel, 'suppressed')) === 1, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: `${channel} suppressed`,
      });
    assert.equal(received.length, before, 'no HTTP request');
    assert.equal(mails.length, mailsBefore, 'no mail');
  });

  test('the next verified backup resolves it: PagerDuty resolve with the same dedup key, "resolved" elsewhere', async () => {
    await mkdir(filesDir, { recursive: true });
    await writeFile(join(filesDir, 'orders.csv'), 'id,total\n1,10\n');
    const result = await stack.cli(['backup', 'files', '--wait', '--timeout', '120']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    await waitFor(
      () =>
        Promise.resolve(
          to('/pagerduty/').length === 2 &&
            to('/teams/').some((r) => r.body.includes('Resolved')) &&
            to('/slack/').some((r) => r.body.includes('Resolved')) &&
            to('/hook/').length === 2 &&
            mails.length === 2,
        ),
      { timeoutMs: 60_000, intervalMs: 200, what: 'every channel told it is resolved' },
    );
    const resolve = json(to('/pagerduty/')[1]) as { event_action: string; dedup_key: string };
    assert.equal(resolve.event_action, 'resolve');
    assert.equal(resolve.dedup_key, 'tidemark/files/tidemark.backup.failed/source-missing-database');
    assert.match(mails[1]?.text ?? '', /Resolved/);
    assert.equal(to('/teams/').filter((r) => r.body.includes('Resolved')).length, 1);
    assert.equal(to('/slack/').filter((r) => r.body.includes('Resolved: files')).length, 1);
    assert.equal(to('/flaky/').length, 5, 'the flaky hook got its resolve at the first try');
  });

  test('a digest route: its job scheduler at digestTime, and one summary of the verified backups when it runs', async () => {
    const queue = new Queue('notifier', { connection: { url: stack.redisUrl }, prefix: QUEUE_PREFIX });
    try {
      const schedulers = await queue.getJobSchedulers(0, -1);
      assert.deepEqual(
        schedulers.map((s) => [s.key, s.pattern, s.tz]),
        [['notifier:digest:2', '0 8 * * *', 'UTC']],
      );
      // What the scheduler adds at 08:00 UTC, added now.
      const hooks = to('/hook/').length;
      await queue.add('digest', { v: 1, route: 2 }, { jobId: 'e2e-digest-1' });
      await waitFor(() => Promise.resolve(to('/hook/').length === hooks + 1), {
        timeoutMs: 30_000,
        intervalMs: 200,
        what: 'the digest at the webhook',
      });
      const digest = JSON.stringify(json(to('/hook/').at(-1)));
      assert.match(digest, /Tidemark daily digest: 1 verified, 0 failed/);
      assert.match(digest, /files/);
    } finally {
      await queue.close();
    }
  });
});

describe('notifier: a bad notifications config stops the start with one line naming the path', () => {
  const dir = join(tmpdir(), `tidemark-notifier-config-${process.pid}`);
  before(async () => {
    await mkdir(dir, { recursive: true });
    await new Promise<void>((resolve, reject) => {
      spawn(process.execPath, [join(REPO_ROOT, 'tools', 'build.mjs')], {
        cwd: REPO_ROOT,
        stdio: 'ignore',
      }).once('exit', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`build exited ${String(code)}`));
      });
    });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function start(
    notifications: string,
    env: NodeJS.ProcessEnv,
  ): Promise<{ code: number | null; stderr: string }> {
    const file = join(dir, `${String(Math.random()).slice(2)}.yaml`);
    await writeFile(
      file,
      `storage: { container: e2e-notifier-config }
local: { path: ${join(dir, 'local')} }
policies: { quick: { schedule: "0 4 * * *" } }
targets: [{ id: files, kind: directory, url: /srv/files, policy: quick }]
${notifications}`,
    );
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'apps', 'notifier', 'src', 'main.js')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...env,
        TIDEMARK_CONFIG: file,
        REDIS_URL: 'redis://127.0.0.1:6379/6',
        PORT: '0',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, stderr };
  }

  const slack = 'ops-slack: { type: slack, url: "${SLACK_WEBHOOK_URL}" }';
  const cases: [string, string, NodeJS.ProcessEnv, RegExp][] = [
    [
      'a route naming an unknown channel',
      `notifications:\n  channels: { ${slack} }\n  routes: [{ match: {}, channels: [ops-slak] }]\n`,
      { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/e2e-canary' },
      /notifications\.routes\[0\]\.channels\[0\]: .*ops-slak/,
    ],
    [
      'a channel without its secret',
      `notifications:\n  channels: { ${slack} }\n  routes: [{ match: {}, channels: [ops-slack] }]\n`,
      { SLACK_WEBHOOK_URL: '' },
      /notifications\.channels\.ops-slack\.url: \$\{SLACK_WEBHOOK_URL\} is not set/,
    ],
    [
      'a malformed URL',
      `notifications:\n  channels: { ${slack} }\n  routes: [{ match: {}, channels: [ops-slack] }]\n`,
      { SLACK_WEBHOOK_URL: 'not a url e2e-canary' },
      /notifications\.channels\.ops-slack\.url: /,
    ],
  ];
  for (const [name, notifications, env, expected] of cases)
    test(name, async () => {
      const { code, stderr } = await start(notifications, env);
      assert.equal(code, 1);
      assert.match(stderr, expected);
      assert.match(stderr, /^notifier: /m);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
      assert.doesNotMatch(stderr, /e2e-canary/, 'the value is never echoed');
    });
});

describe('notifier over Azure Service Bus: it receives from its own subscription, notifier', () => {
  let broker: BrokerHandle;
  let stack: TestStack;
  let http: Server;
  let dir = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-notifier-sb-'));
    http = startHttp();
    await listen(http);
    broker = await startBroker();
    broker.createTopic('tidemark-events');
    for (const name of ['audit', 'cli', 'notifier']) broker.createSubscription('tidemark-events', name);
    broker.createSubscription('tidemark-events', 'retention', {
      filter: "type = 'tidemark.backup.verified'",
    });
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    stack = await TestStack.start({
      config: `
storage: { container: e2e-notifier-sb }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies: { quick: { schedule: "0 4 * * *", verify: { restoreTest: false } } }
targets: [{ id: sb-files, kind: directory, url: "${join(dir, 'missing')}", policy: quick }]
notifications:
  channels: { sb-hook: { type: webhook, url: "\${SB_HOOK_URL}" } }
  routes: [{ match: { targets: [sb-files], severity: [error] }, channels: [sb-hook] }]
`,
      env: { SB_HOOK_URL: `${base}/sb/hook`, AZURE_SERVICEBUS_CONNECTION_STRING: broker.connectionString },
      redisDb: 6,
      notifier: true,
    });
  });

  after(async () => {
    await stack.stop();
    await broker.stop();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  test('a failed backup is one message, and the subscription is drained (completed)', async () => {
    const result = await stack.cli(['backup', 'sb-files', '--wait', '--timeout', '120']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    await waitFor(() => Promise.resolve(to('/sb/').length === 1), {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: 'the failure at the webhook',
    });
    const event = json(to('/sb/')[0]);
    assert.equal(event['type'], 'tidemark.backup.failed');
    await waitFor(() => Promise.resolve(broker.messages('tidemark-events', 'notifier').active.length === 0), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'the notifier subscription drained',
    });
    assert.equal(to('/sb/').length, 1);
  });
});
