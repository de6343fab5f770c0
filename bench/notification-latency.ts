/**
 * Send latency per channel kind over loopback: from `Channel.send()` to the receiver holding the whole message
 * (an HTTP server for Teams, Slack, PagerDuty and the webhook; an SMTP server for e-mail), one message at a time.
 * Run by hand (not a test):
 *   node -r ./tools/register.js bench/notification-latency.ts [--count 50]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import {
  createChannel,
  type Notification,
  type ResolvedChannelConfig,
} from '@tidemark/notification-channels';
import { SAMPLE_FAILURE } from './notification-sample';

const countFlag = process.argv.indexOf('--count');
const COUNT = countFlag > 0 ? Number(process.argv[countFlag + 1]) : 50;

let arrived: (() => void) | undefined;

function receivedNow(): void {
  arrived?.();
}

async function main(): Promise<void> {
  const http = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      receivedNow();
      response.writeHead(202).end('{"status":"success"}');
    });
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  const smtp = new SMTPServer({
    authOptional: true,
    // Looking up the client's name would be most of each message's time.
    disableReverseLookup: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => {
        receivedNow();
        callback();
      });
    },
  });
  await new Promise<void>((done) => smtp.listen(0, '127.0.0.1', done));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  const configs: Record<string, ResolvedChannelConfig> = {
    teams: { type: 'teams', url: `${base}/teams` },
    slack: { type: 'slack', url: `${base}/slack` },
    pagerduty: { type: 'pagerduty', routingKey: 'R0123456789abcdefABCDEF012345678', url: `${base}/pd` },
    webhook: { type: 'webhook', url: `${base}/hook`, secret: 'bench-secret' },
    email: {
      type: 'email',
      smtp: `smtp://127.0.0.1:${smtpPort}`,
      from: 'a@example.com',
      to: ['b@example.com'],
    },
  };
  console.log(`${COUNT} messages per channel, one at a time, loopback`);
  console.log('kind       median ms  p95 ms  max ms');
  for (const [kind, config] of Object.entries(configs)) {
    const channel = createChannel(kind, config);
    const times: number[] = [];
    for (let i = 0; i < COUNT + 3; i++) {
      const notification: Notification = { ...SAMPLE_FAILURE, id: `bench-${kind}-${i}` };
      const started = performance.now();
      const received = new Promise<number>((done) => {
        arrived = () => {
          done(performance.now());
        };
      });
      const [result, at] = await Promise.all([channel.send(notification), received]);
      if (!result.ok) throw new Error(`${kind}: ${result.detail}`);
      // The first three warm up the connection code paths.
      if (i >= 3) times.push(at - started);
    }
    times.sort((a, b) => a - b);
    const pick = (q: number): string =>
      (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(1);
    console.log(
      `${kind.padEnd(10)} ${pick(0.5).padStart(9)}  ${pick(0.95).padStart(6)}  ${pick(1).padStart(6)}`,
    );
  }
  await new Promise((done) => http.close(done));
  await new Promise<void>((done) => {
    smtp.close(() => {
      done();
    });
  });
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
