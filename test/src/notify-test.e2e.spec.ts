import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { runCli } from './support/stack';

// `tidemark notify test <channel>` through the real CLI against real local receivers: an HTTP server standing
// in for Teams, Slack, PagerDuty and a webhook, and an SMTP server for e-mail. Every secret is a canary that
// must appear nowhere in what the CLI prints.
const TEAMS_TOKEN = 'teams-canary-7f3a9c1e';
const SLACK_TOKEN = 'slack-canary-T00B00-4b8e2d';
const PD_ROUTING_KEY = 'Rcanary0123456789abcdefABCDEF012';
const HOOK_TOKEN = 'hook-canary-path-91c2';
const HOOK_SECRET = 'hook-signing-canary-5d1f';
const SMTP_PASSWORD = 'smtp-canary-pw-0e7b';
const CANARIES = [TEAMS_TOKEN, SLACK_TOKEN, PD_ROUTING_KEY, HOOK_TOKEN, HOOK_SECRET, SMTP_PASSWORD];

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What each path answers, in turn (the last answer repeats); every request is recorded. */
const script = new Map<string, number[]>();
const received: Received[] = [];
const mails: { text: string; user: string | undefined }[] = [];

let http: Server;
let smtp: SMTPServer;
let httpPort = 0;
let smtpPort = 0;
let dir = '';

function listen(server: { listen: (port: number, host: string, cb: () => void) => unknown }): Promise<void> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
}

function startHttp(): Server {
  return createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const earlier = received.filter((r) => r.path === path).length;
      received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answers = script.get(path) ?? [200];
      const status = answers[Math.min(earlier, answers.length - 1)] ?? 200;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(status < 300 ? { status: 'success', message: 'Event processed' } : { error: 'nope' }),
      );
    });
  });
}

function startSmtp(): SMTPServer {
  return new SMTPServer({
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      if (auth.username === 'mailer' && auth.password === SMTP_PASSWORD) callback(null, { user: 'mailer' });
      else callback(new Error('bad credentials'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push({
          text: Buffer.concat(chunks).toString('utf8'),
          user: session.user as string | undefined,
        });
        callback();
      });
    },
  });
}

function configText(): string {
  const base = `http://127.0.0.1:${httpPort}`;
  return `
policies: { nightly: { schedule: "0 2 * * *" } }
targets: [{ id: orders-db, kind: directory, url: /srv/orders, policy: nightly }]
notifications:
  dashboardUrl: https://grafana.example.com/d/tidemark
  channels:
    ops-teams:  { type: teams, url: "\${TEAMS_WORKFLOW_URL}" }
    ops-slack:  { type: slack, url: "\${SLACK_WEBHOOK_URL}" }
    oncall:     { type: pagerduty, routingKey: "\${PD_ROUTING_KEY}", url: "${base}/pagerduty/v2/enqueue" }
    dba-mail:   { type: email, smtp: "\${SMTP_URL}", from: backups@example.com, to: [dba@example.com] }
    audit-hook: { type: webhook, url: "\${HOOK_URL}", secret: "\${HOOK_SECRET}" }
    flaky-hook: { type: webhook, url: "\${FLAKY_HOOK_URL}" }
    rejecting:  { type: slack, url: "\${REJECTING_URL}" }
  routes:
    - { match: { severity: [critical] }, channels: [oncall, ops-teams] }
`;
}

function env(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = `http://127.0.0.1:${httpPort}`;
  return {
    ...process.env,
    TIDEMARK_CONFIG: join(dir, 'tidemark.yaml'),
    TEAMS_WORKFLOW_URL: `${base}/teams/workflows/${TEAMS_TOKEN}`,
    SLACK_WEBHOOK_URL: `${base}/slack/services/${SLACK_TOKEN}`,
    PD_ROUTING_KEY,
    SMTP_URL: `smtp://mailer:${SMTP_PASSWORD}@127.0.0.1:${smtpPort}`,
    HOOK_URL: `${base}/hook/${HOOK_TOKEN}`,
    HOOK_SECRET,
    FLAKY_HOOK_URL: `${base}/flaky/${HOOK_TOKEN}`,
    REJECTING_URL: `${base}/rejecting/${SLACK_TOKEN}`,
    ...overrides,
  };
}

async function notifyTest(channel: string, overrides: NodeJS.ProcessEnv = {}, json = false) {
  const result = await runCli([...(json ? ['--json'] : []), 'notify', 'test', channel], env(overrides));
  for (const canary of CANARIES) {
    assert.ok(!result.stdout.includes(canary), `stdout holds a secret: ${result.stdout}`);
    assert.ok(!result.stderr.includes(canary), `stderr holds a secret: ${result.stderr}`);
  }
  return result;
}

function requestsTo(prefix: string): Received[] {
  return received.filter((request) => request.path.startsWith(prefix));
}

function json(request: Received | undefined): Record<string, unknown> {
  assert.ok(request, 'a request arrived');
  return JSON.parse(request.body) as Record<string, unknown>;
}

describe('tidemark notify test', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-notify-e2e-'));
    http = startHttp();
    await listen(http);
    httpPort = (http.address() as AddressInfo).port;
    smtp = startSmtp();
    await listen(smtp);
    smtpPort = (smtp.server.address() as AddressInfo).port;
    await writeFile(join(dir, 'tidemark.yaml'), configText());
  });

  after(async () => {
    await new Promise((resolve) => http.close(resolve));
    await new Promise<void>((resolve) => {
      smtp.close(() => {
        resolve();
      });
    });
    await rm(dir, { recursive: true, force: true });
  });

  test('Teams: one Adaptive Card 1.5 in a Workflows message; the CLI prints the answer', async () => {
    const { code, stdout, stderr } = await notifyTest('ops-teams');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^channel: {2}ops-teams \(teams\)$/m);
    assert.match(stdout, /^result: {3}delivered$/m);
    assert.match(stdout, /^status: {3}200$/m);
    assert.match(stdout, /^attempts: 1$/m);
    assert.match(stdout, /^answer: {3}HTTP 200: \{"status":"success","message":"Event processed"\}$/m);
    const requests = requestsTo('/teams/');
    assert.equal(requests.length, 1);
    assert.equal(requests[0]?.path, `/teams/workflows/${TEAMS_TOKEN}`);
    assert.equal(requests[0].headers['content-type'], 'application/json');
    const message = json(requests[0]) as {
      type: string;
      attachments: {
        contentType: string;
        content: {
          type: string;
          version: string;
          body: { type: string; text?: string }[];
          actions: { type: string; url: string }[];
        };
      }[];
    };
    assert.equal(message.type, 'message');
    const card = message.attachments[0];
    assert.ok(card);
    assert.equal(card.contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(card.content.type, 'AdaptiveCard');
    assert.equal(card.content.version, '1.5');
    assert.equal(card.content.body[0]!.text, 'Test: Tidemark can reach ops-teams');
    assert.ok(card.content.body.some((block) => block.type === 'FactSet'));
    assert.deepEqual(card.content.actions, [
      { type: 'Action.OpenUrl', title: 'Dashboard', url: 'https://grafana.example.com/d/tidemark' },
    ]);
  });

  test('Slack: one Block Kit message with a fallback text', async () => {
    const { code, stderr } = await notifyTest('ops-slack');
    assert.equal(code, 0, stderr);
    const requests = requestsTo('/slack/');
    assert.equal(requests.length, 1);
    const message = json(requests[0]) as { text: string; blocks: { type: string }[] };
    assert.match(message.text, /^Test: Tidemark can reach ops-slack: /);
    assert.deepEqual(
      message.blocks.map((block) => block.type),
      ['header', 'section', 'section', 'section', 'actions', 'context'],
    );
  });

  test('PagerDuty: an Events API v2 trigger with the routing key, dedup key and severity', async () => {
    script.set('/pagerduty/v2/enqueue', [202]);
    const { code, stdout, stderr } = await notifyTest('oncall', {}, true);
    assert.equal(code, 0, stderr);
    const printed = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(
      { ...printed, detail: undefined },
      { channel: 'oncall', type: 'pagerduty', ok: true, status: 202, attempts: 1, detail: undefined },
    );
    const event = json(requestsTo('/pagerduty/')[0]) as {
      routing_key: string;
      event_action: string;
      dedup_key: string;
      payload: {
        summary: string;
        source: string;
        severity: string;
        timestamp: string;
        custom_details: object;
      };
    };
    assert.equal(event.routing_key, PD_ROUTING_KEY);
    assert.equal(event.event_action, 'trigger');
    assert.equal(event.dedup_key, 'tidemark-test|oncall');
    assert.equal(event.payload.severity, 'info');
    assert.equal(event.payload.source, 'tidemark');
    assert.ok(!Number.isNaN(Date.parse(event.payload.timestamp)));
    assert.equal(event.payload.summary, 'Test: Tidemark can reach oncall');
  });

  test('webhook: a structured CloudEvent, HMAC-signed over the exact body, with a timestamp', async () => {
    const { code, stderr } = await notifyTest('audit-hook');
    assert.equal(code, 0, stderr);
    const [request] = requestsTo('/hook/');
    assert.ok(request);
    assert.equal(request.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
    const expected = createHmac('sha256', HOOK_SECRET).update(request.body).digest('hex');
    assert.equal(request.headers['x-tidemark-signature'], `sha256=${expected}`);
    const stamp = Number(request.headers['x-tidemark-timestamp']);
    assert.ok(Math.abs(stamp - Date.now() / 1000) < 600, `timestamp ${stamp}`);
    const event = json(request);
    assert.equal(event['specversion'], '1.0');
    assert.equal(event['type'], 'tidemark.notification.test');
    assert.equal(event['id'], request.headers['x-tidemark-notification-id']);
  });

  test('a receiver answering 500 twice then 200 gets the message once, on the third attempt', async () => {
    script.set(`/flaky/${HOOK_TOKEN}`, [500, 500, 200]);
    const { code, stdout, stderr } = await notifyTest('flaky-hook');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^attempts: 3$/m);
    const requests = requestsTo('/flaky/');
    assert.equal(requests.length, 3);
    // The same message each time: one notification id, so the receiver can tell retries apart from news.
    assert.equal(new Set(requests.map((r) => r.headers['x-tidemark-notification-id'])).size, 1);
    assert.equal(requests[0]?.headers['x-tidemark-signature'], undefined);
  });

  test('a receiver refusing the message (400) is not retried, and the CLI exits 1', async () => {
    script.set(`/rejecting/${SLACK_TOKEN}`, [400]);
    const { code, stdout } = await notifyTest('rejecting');
    assert.equal(code, 1);
    assert.match(stdout, /^result: {3}not delivered$/m);
    assert.match(stdout, /^answer: {3}HTTP 400: \{"error":"nope"\}$/m);
    assert.equal(requestsTo('/rejecting/').length, 1);
  });

  test('e-mail: one multipart message (text and HTML) through SMTP with the credentials of the URL', async () => {
    const { code, stdout, stderr } = await notifyTest('dba-mail');
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^answer: {3}SMTP 250 /m);
    assert.equal(mails.length, 1);
    const [mail] = mails;
    assert.ok(mail);
    assert.equal(mail.user, 'mailer');
    assert.match(mail.text, /^Subject: Test: Tidemark can reach dba-mail$/m);
    assert.match(mail.text, /^From: backups@example\.com$/m);
    assert.match(mail.text, /^To: dba@example\.com$/m);
    assert.match(mail.text, /^Content-Type: multipart\/alternative;/m);
    assert.match(mail.text, /^Content-Type: text\/plain/m);
    assert.match(mail.text, /^Content-Type: text\/html/m);
    assert.match(mail.text, /tidemark notify test dba-mail/);
  });

  test('an unset ${VAR}: one line naming the path, nothing sent', async () => {
    const before = received.length;
    const { code, stdout, stderr } = await notifyTest('oncall', { PD_ROUTING_KEY: '' });
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      'tidemark: notifications.channels.oncall.routingKey: ${PD_ROUTING_KEY} is not set\n',
    );
    assert.equal(received.length, before);
  });

  test('a malformed URL once resolved: one line naming the path, never the value', async () => {
    const { code, stderr } = await notifyTest('ops-slack', {
      SLACK_WEBHOOK_URL: `ftp://hooks.example.com/services/${SLACK_TOKEN}`,
    });
    assert.equal(code, 1);
    assert.equal(stderr, 'tidemark: notifications.channels.ops-slack.url: not a valid https URL\n');
  });

  test('config check lists every channel problem, one line each, needed by the notifier', async () => {
    const result = await runCli(
      ['config', 'check'],
      env({ PD_ROUTING_KEY: '', HOOK_URL: `ftp://x.example/${HOOK_TOKEN}` }),
    );
    for (const canary of CANARIES) assert.ok(!result.stdout.includes(canary), result.stdout);
    assert.equal(result.code, 1);
    assert.deepEqual(result.stdout.trimEnd().split('\n'), [
      'notifications.channels.oncall.routingKey: ${PD_ROUTING_KEY} is not set (needed by notifier)',
      'notifications.channels.audit-hook.url: not a valid https URL (needed by notifier)',
    ]);
  });

  test('an unknown channel: one line listing the known ones', async () => {
    const { code, stderr } = await notifyTest('pager');
    assert.equal(code, 1);
    assert.equal(
      stderr,
      'tidemark: unknown channel "pager" (known: ops-teams, ops-slack, oncall, dba-mail, audit-hook, flaky-hook, rejecting)\n',
    );
  });
});
