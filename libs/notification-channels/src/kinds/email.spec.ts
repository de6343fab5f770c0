import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Notification } from '../contract';
import { createChannel } from '../registry';

// E-mail delivery against a real SMTP server on loopback: which replies are retried and what the result says.
const PASSWORD = 'smtp-spec-canary-pw';

const notification: Notification = {
  id: 'n-mail',
  kind: 'resolve',
  dedupKey: 'orders-db|tidemark.backup.failed|dump-failed',
  severity: 'error',
  title: 'orders-db: backup failed (dump-failed)',
  summary: 'The next backup was verified.',
  targetId: 'orders-db',
  occurredAt: '2026-12-07T03:00:00.000Z',
  facts: [],
  commands: [],
  links: [],
};

/** What RCPT TO answers, per recipient, in turn (the last answer repeats); undefined accepts. */
const rcptAnswers = new Map<string, (number | undefined)[]>();
const rcptCalls = new Map<string, number>();
const delivered: string[] = [];

const server = new SMTPServer({
  disabledCommands: ['STARTTLS'],
  allowInsecureAuth: true,
  disableReverseLookup: true,
  onAuth(auth, _session, callback) {
    if (auth.username === 'mailer' && auth.password === PASSWORD) callback(null, { user: 'mailer' });
    else callback(Object.assign(new Error('Invalid credentials'), { responseCode: 535 }));
  },
  onRcptTo(address, _session, callback) {
    const calls = rcptCalls.get(address.address) ?? 0;
    rcptCalls.set(address.address, calls + 1);
    const answers = rcptAnswers.get(address.address) ?? [undefined];
    const code = answers[Math.min(calls, answers.length - 1)];
    if (code === undefined) callback();
    else
      callback(
        Object.assign(new Error(code < 500 ? 'mailbox busy, try later' : 'no such user'), {
          responseCode: code,
        }),
      );
  },
  onData(stream, _session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      delivered.push(Buffer.concat(chunks).toString('utf8'));
      callback();
    });
  },
});
let port = 0;

function channel(to: string, user = 'mailer', password = PASSWORD, smtpPort = port) {
  return createChannel(
    'mail',
    {
      type: 'email',
      smtp: `smtp://${user}:${password}@127.0.0.1:${smtpPort}`,
      from: 'backups@example.com',
      to: [to],
    },
    { sleep: () => Promise.resolve(), delivery: { maxAttempts: 3, timeoutMs: 5000 } },
  );
}

function noSecret(detail: string): void {
  assert.ok(!detail.includes(PASSWORD), detail);
}

describe('e-mail delivery', () => {
  before(async () => {
    await new Promise<void>((resolve) => {
      server.listen(0, '127.0.0.1', resolve);
    });
    port = (server.server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  });

  test('a resolve goes out once with [RESOLVED] in the subject; the result is the server reply', async () => {
    const before = delivered.length;
    const result = await channel('dba@example.com').send(notification);
    assert.equal(result.ok, true, result.detail);
    assert.equal(result.status, 250);
    assert.equal(result.attempts, 1);
    assert.match(result.detail, /^SMTP 250 /);
    assert.equal(delivered.length, before + 1);
    assert.match(delivered.at(-1) ?? '', /^Subject: \[RESOLVED\] orders-db: backup failed \(dump-failed\)$/m);
  });

  test('a 4xx reply is retried and the message then goes out once', async () => {
    rcptAnswers.set('busy@example.com', [451, 451, undefined]);
    const before = delivered.length;
    const result = await channel('busy@example.com').send(notification);
    assert.equal(result.ok, true, result.detail);
    assert.equal(result.attempts, 3);
    assert.equal(rcptCalls.get('busy@example.com'), 3);
    assert.equal(delivered.length, before + 1);
  });

  test('a 5xx reply is not retried', async () => {
    rcptAnswers.set('gone@example.com', [550]);
    const result = await channel('gone@example.com').send(notification);
    assert.equal(result.ok, false);
    assert.equal(result.status, 550);
    assert.equal(result.attempts, 1);
    assert.match(result.detail, /^SMTP 550 .*no such user/);
    assert.equal(rcptCalls.get('gone@example.com'), 1);
  });

  test('wrong credentials are not retried, and the password is not in the result', async () => {
    const result = await channel('dba@example.com', 'mailer', `${PASSWORD}-wrong`).send(notification);
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 1);
    assert.match(result.detail, /^SMTP 535 /);
    noSecret(result.detail);
  });

  test('a refused connection is retried up to maxAttempts, without the URL in the result', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const result = await channel('dba@example.com', 'mailer', PASSWORD, freePort).send(notification);
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 3);
    assert.match(result.detail, /ECONNREFUSED.*\(gave up after 3 attempts\)$/);
    noSecret(result.detail);
  });
});
