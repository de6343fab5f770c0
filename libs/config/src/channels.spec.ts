import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tidemark/policy';
import { checkConfig } from './check-config';
import { loadConfig } from './load-config';
import { resolveChannelConfigs, resolvedChannelConfig } from './channels';
import { assertServiceEnv } from './service-needs';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-channels-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const BASE = `policies: { p: { schedule: "0 2 * * *" } }
targets: [{ id: orders-db, kind: directory, url: /srv/orders, policy: p }]
`;

const CHANNELS = `notifications:
  channels:
    ops-teams:  { type: teams, url: "\${TEAMS_WORKFLOW_URL}" }
    ops-slack:  { type: slack, url: "\${SLACK_WEBHOOK_URL}" }
    oncall:     { type: pagerduty, routingKey: "\${PD_ROUTING_KEY}" }
    dba-mail:   { type: email, smtp: "\${SMTP_URL}", from: backups@example.com, to: [dba@example.com] }
    audit-hook: { type: webhook, url: "\${HOOK_URL}", secret: "\${HOOK_SECRET}" }
  routes:
    - { match: { severity: [critical] }, channels: [oncall, ops-teams] }
    - { match: { severity: [error, warning], targets: [orders-db] }, channels: [ops-slack, dba-mail], repeatAfter: 1h30m }
    - { match: { types: [tidemark.backup.verified] }, channels: [audit-hook], digest: daily }
`;

const ENV: NodeJS.ProcessEnv = {
  TEAMS_WORKFLOW_URL: 'https://prod-1.westeurope.logic.azure.com/workflows/abc/triggers/manual?sig=s3cr3tsig',
  SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T1/B2/slacksecretpart',
  PD_ROUTING_KEY: 'R0123456789abcdefABCDEF012345678',
  SMTP_URL: 'smtp://mailer:mailpassword@mail.example.com:587',
  HOOK_URL: 'https://audit.example.com/tidemark',
  HOOK_SECRET: 'hook-signing-secret',
};

let count = 0;
function file(text: string): string {
  const path = join(dir, `case-${++count}.yaml`);
  writeFileSync(path, text);
  return path;
}

function loadProblems(text: string): string[] {
  try {
    loadConfig({ path: file(text), env: {} });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('the notifications block', () => {
  test('the example from the issue loads, with defaults filled in', () => {
    const config = loadConfig({ path: file(BASE + CHANNELS), env: {} });
    const notifications = config.notifications;
    assert.ok(notifications);
    assert.equal(notifications.repeatAfter, '4h');
    assert.equal(notifications.digestTime, '08:00');
    assert.deepEqual(notifications.channels['oncall'], {
      type: 'pagerduty',
      routingKey: '${PD_ROUTING_KEY}',
      url: 'https://events.pagerduty.com/v2/enqueue',
    });
    assert.deepEqual(notifications.routes[1], {
      match: { severity: ['error', 'warning'], targets: ['orders-db'] },
      channels: ['ops-slack', 'dba-mail'],
      repeatAfter: '1h30m',
    });
    assert.deepEqual(notifications.routes[2]?.digest, 'daily');
  });

  test('no block, or an empty one, means no notifications', () => {
    assert.equal(loadConfig({ path: file(BASE), env: {} }).notifications, undefined);
    assert.equal(loadConfig({ path: file(`${BASE}notifications:\n`), env: {} }).notifications, undefined);
  });

  test('a route naming an unknown channel, target or event type: one line each, naming the path', () => {
    const text = `${BASE}notifications:
  channels: { ops: { type: slack, url: "\${SLACK_WEBHOOK_URL}" } }
  routes:
    - { channels: [ops] }
    - { match: { targets: [billing-db], types: [tidemark.backup.exploded] }, channels: [x, ops] }
`;
    const lines = loadProblems(text);
    assert.equal(lines.length, 3);
    assert.match(
      lines[0] ?? '',
      /^notifications\.routes\[1\]\.match\.types\[0\]: unknown event type "tidemark\.backup\.exploded" \(known: tidemark\.backup\.requested, /,
    );
    assert.deepEqual(lines.slice(1), [
      'notifications.routes[1].channels[0]: unknown channel "x" (known: ops)',
      'notifications.routes[1].match.targets[0]: unknown target "billing-db" (known: orders-db)',
    ]);
  });

  test('a secret written into the file is refused without repeating it', () => {
    const lines = loadProblems(`${BASE}notifications:
  channels:
    ops: { type: slack, url: "https://hooks.slack.com/services/T1/B2/literalsecret" }
    pd: { type: pagerduty, routingKey: R0123456789abcdefABCDEF012345678 }
    hook: { type: webhook, url: "\${HOOK_URL}", secret: "\${hook_secret}" }
`);
    assert.deepEqual(lines, [
      'notifications.channels.ops.url: is a secret: write it as a ${NAME} reference and set NAME in the environment, not in the file',
      'notifications.channels.pd.routingKey: is a secret: write it as a ${NAME} reference and set NAME in the environment, not in the file',
      'notifications.channels.hook.secret: holds a malformed environment variable reference (write ${NAME} with A-Z, 0-9 and _)',
    ]);
  });

  test("a kind's keys: unknown and missing ones, bad addresses, an unknown type", () => {
    const lines = loadProblems(`${BASE}notifications:
  channels:
    mail: { type: email, smtp: "\${SMTP_URL}", from: not-an-address, to: [], port: 25 }
    pd: { type: pagerduty }
    sms: { type: sms, url: "\${X}" }
  repeatAfter: soon
  digestTime: "8am"
`);
    assert.deepEqual(
      [...lines].sort(),
      [
        'notifications.channels.mail.port: unknown key "port" (a channel of type email has type, smtp, from, to)',
        'notifications.channels.mail.from: must be an e-mail address',
        'notifications.channels.mail.to: must be at least 1 items',
        'notifications.channels.pd.routingKey: required',
        'notifications.channels.sms.type: must be one of teams, slack, pagerduty, email, webhook',
        'notifications.repeatAfter: "soon" is not a duration (write e.g. 30m, 4h, 1d or 1d12h: days d, hours h, minutes m, seconds s)',
        'notifications.digestTime: must be a time of day as HH:MM (24-hour, UTC)',
      ].sort(),
    );
  });
});

describe('resolving channels', () => {
  const config = () => loadConfig({ path: file(BASE + CHANNELS), env: {} });

  test('every channel resolved from a complete environment', () => {
    const { channels, issues } = resolveChannelConfigs(config(), ENV);
    assert.deepEqual(issues, []);
    assert.deepEqual(channels['ops-slack'], { type: 'slack', url: ENV['SLACK_WEBHOOK_URL'] });
    assert.deepEqual(channels['dba-mail'], {
      type: 'email',
      smtp: ENV['SMTP_URL'],
      from: 'backups@example.com',
      to: ['dba@example.com'],
    });
    assert.deepEqual(resolvedChannelConfig(config(), 'audit-hook', ENV), {
      type: 'webhook',
      url: ENV['HOOK_URL'],
      secret: ENV['HOOK_SECRET'],
    });
  });

  test('an unset variable and a malformed value: one line each naming the path, never the value', () => {
    const env = {
      ...ENV,
      PD_ROUTING_KEY: '',
      SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T1/B2/slacksecretpart',
      TEAMS_WORKFLOW_URL: 'http://prod-1.example.com/workflows?sig=s3cr3tsig',
      SMTP_URL: 'https://mailer:mailpassword@mail.example.com',
    };
    const { channels, issues } = resolveChannelConfigs(config(), env);
    const lines = issues.map((issue) => `${issue.path}: ${issue.message}`);
    assert.deepEqual(lines, [
      'notifications.channels.ops-teams.url: not a valid https URL',
      'notifications.channels.ops-slack.url: not a valid https URL',
      'notifications.channels.oncall.routingKey: ${PD_ROUTING_KEY} is not set',
      'notifications.channels.dba-mail.smtp: not a valid smtp:// or smtps:// URL',
    ]);
    assert.deepEqual(Object.keys(channels), ['audit-hook']);
    assert.throws(() => resolvedChannelConfig(config(), 'oncall', env), {
      message: 'notifications.channels.oncall.routingKey: ${PD_ROUTING_KEY} is not set',
    });
  });

  test('a routing key that is not one, and plain http only to this machine', () => {
    const env = { ...ENV, PD_ROUTING_KEY: 'short', HOOK_URL: 'http://127.0.0.1:8080/hook' };
    const { issues, channels } = resolveChannelConfigs(config(), env);
    assert.deepEqual(issues, [
      {
        path: 'notifications.channels.oncall.routingKey',
        message: 'not a valid routing key (an integration key is 32 letters and digits)',
      },
    ]);
    assert.equal(channels['audit-hook']?.['url'], 'http://127.0.0.1:8080/hook');
  });

  test('the notifier refuses to start without its channels; other services do not care', () => {
    const env = { ...ENV, HOOK_SECRET: undefined };
    assert.throws(
      () => {
        assertServiceEnv(config(), 'notifier', env);
      },
      {
        message: 'notifications.channels.audit-hook.secret: ${HOOK_SECRET} is not set',
      },
    );
    assert.doesNotThrow(() => {
      assertServiceEnv(config(), 'scheduler', env);
    });
    assert.doesNotThrow(() => {
      assertServiceEnv(config(), 'notifier', ENV);
    });
  });

  test('config check reports the channels, needed by the notifier', () => {
    const problems = checkConfig({
      path: file(BASE + CHANNELS),
      env: { ...ENV, SMTP_URL: undefined },
    }).problems;
    assert.deepEqual(problems, [
      {
        path: 'notifications.channels.dba-mail.smtp',
        message: '${SMTP_URL} is not set',
        services: ['notifier'],
      },
    ]);
  });
});
