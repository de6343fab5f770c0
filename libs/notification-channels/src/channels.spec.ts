import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Notification } from './contract';
import { backoffMs, retryAfterMs } from './delivery';
import { emailHtml, emailSubject } from './kinds/email';
import { pagerDutyPayload } from './kinds/pagerduty';
import { slackPayload } from './kinds/slack';
import { teamsPayload } from './kinds/teams';
import { webhookEvent } from './kinds/webhook';
import { channelKinds, createChannel } from './registry';
import { plainText } from './render';

const failed: Notification = {
  id: 'n-1',
  kind: 'raise',
  dedupKey: 'orders-db|tidemark.backup.failed|dump-failed',
  severity: 'error',
  title: 'orders-db: backup failed (dump-failed)',
  summary: 'pg_dump exited with 1 after 3 attempts: <connection refused> & gave up.',
  targetId: 'orders-db',
  eventType: 'tidemark.backup.failed',
  occurredAt: '2026-12-07T02:00:00.000Z',
  facts: [
    { label: 'Stage', value: 'dump' },
    { label: 'Attempts', value: '3' },
  ],
  commands: ['tidemark show 20261207T020000Z-abc', 'tidemark backup orders-db --wait'],
  links: [{ label: 'Runbook', url: 'https://example.com/runbooks.md#backup-failed' }],
};

const ROUTING_KEY = 'R0123456789abcdefABCDEF012345678';
const SLACK_URL = 'https://hooks.slack.com/services/T000/B000/SECRETSECRETSECRET';

interface Recorded {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A fetch answering from `answers` in turn (the last one repeats), recording every request. */
function scriptedFetch(answers: (() => Response)[]): { fetch: typeof fetch; requests: Recorded[] } {
  const requests: Recorded[] = [];
  const fetchFn = ((input: string | URL | Request, init?: RequestInit) => {
    requests.push({
      url: input instanceof Request ? input.url : input.toString(),
      headers: { ...(init?.headers as Record<string, string>) },
      body: init?.body as string,
    });
    const answer = answers[Math.min(requests.length - 1, answers.length - 1)];
    assert.ok(answer);
    return Promise.resolve(answer());
  }) as typeof fetch;
  return { fetch: fetchFn, requests };
}

function recordingSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
  };
}

describe('the channel registry', () => {
  test('lists every kind once', () => {
    assert.deepEqual(channelKinds, ['teams', 'slack', 'pagerduty', 'email', 'webhook']);
  });

  test('an unknown kind names the known ones', () => {
    assert.throws(
      () => createChannel('x', { type: 'sms', url: 'https://x' }),
      /unknown channel type "sms" \(known: teams, slack, pagerduty, email, webhook\)/,
    );
  });
});

describe('rendering', () => {
  test('Teams: a Workflows message carrying an Adaptive Card 1.5', () => {
    const payload = teamsPayload(failed) as {
      type: string;
      attachments: { contentType: string; content: Record<string, unknown> }[];
    };
    assert.equal(payload.type, 'message');
    const [attachment] = payload.attachments;
    assert.equal(attachment?.contentType, 'application/vnd.microsoft.card.adaptive');
    const card = attachment.content as {
      version: string;
      body: Record<string, unknown>[];
      actions: unknown[];
    };
    assert.equal(card.version, '1.5');
    assert.deepEqual(card.body[0], {
      type: 'TextBlock',
      text: 'orders-db: backup failed (dump-failed)',
      size: 'Large',
      weight: 'Bolder',
      color: 'Attention',
      wrap: true,
      style: 'heading',
    });
    assert.deepEqual(
      card.body.find((block) => block['type'] === 'FactSet'),
      {
        type: 'FactSet',
        facts: [
          { title: 'Stage', value: 'dump' },
          { title: 'Attempts', value: '3' },
        ],
      },
    );
    const monospace = card.body.filter((block) => block['fontType'] === 'Monospace').map((b) => b['text']);
    assert.deepEqual(monospace, failed.commands);
    assert.deepEqual(card.actions, [
      { type: 'Action.OpenUrl', title: 'Runbook', url: 'https://example.com/runbooks.md#backup-failed' },
    ]);
  });

  test('Teams: a resolve is green and says so; a warning is amber', () => {
    const resolved = teamsPayload({ ...failed, kind: 'resolve' }) as {
      attachments: { content: { body: { text: string; color: string }[] } }[];
    };
    const title = resolved.attachments[0]?.content.body[0];
    assert.equal(title?.text, 'Resolved: orders-db: backup failed (dump-failed)');
    assert.equal(title.color, 'Good');
    const warning = teamsPayload({ ...failed, severity: 'warning' }) as typeof resolved;
    assert.equal(warning.attachments[0]?.content.body[0]?.color, 'Warning');
  });

  test('Slack: Block Kit with a fallback text, escaped mrkdwn, fields, a code block and buttons', () => {
    const payload = slackPayload(failed) as { text: string; blocks: Record<string, unknown>[] };
    assert.equal(payload.text, `${failed.title}: ${failed.summary}`);
    assert.deepEqual(
      payload.blocks.map((block) => block['type']),
      ['header', 'section', 'section', 'section', 'actions', 'context'],
    );
    assert.deepEqual(payload.blocks[0], {
      type: 'header',
      text: { type: 'plain_text', text: failed.title, emoji: false },
    });
    const summary = payload.blocks[1] as { text: { text: string } };
    assert.equal(
      summary.text.text,
      'pg_dump exited with 1 after 3 attempts: &lt;connection refused&gt; &amp; gave up.',
    );
    const fields = payload.blocks[2] as { fields: { type: string; text: string }[] };
    assert.deepEqual(fields.fields[0], { type: 'mrkdwn', text: '*Stage*\ndump' });
    const code = payload.blocks[3] as { text: { text: string } };
    assert.equal(
      code.text.text,
      '```tidemark show 20261207T020000Z-abc\ntidemark backup orders-db --wait```',
    );
    const actions = payload.blocks[4] as { elements: { type: string; url: string }[] };
    assert.equal(actions.elements[0]!.type, 'button');
    assert.equal(actions.elements[0]!.url, failed.links[0]!.url);
  });

  test('Slack: more than ten facts are split over sections (Block Kit allows ten fields each)', () => {
    const facts = Array.from({ length: 12 }, (_, index) => ({ label: `f${index}`, value: String(index) }));
    const payload = slackPayload({ ...failed, facts }) as { blocks: { fields?: unknown[] }[] };
    assert.deepEqual(
      payload.blocks.filter((block) => block.fields).map((block) => block.fields?.length),
      [10, 2],
    );
  });

  test('PagerDuty: a trigger with dedup key, severity and custom details; a resolve with the same key', () => {
    const trigger = pagerDutyPayload(failed, ROUTING_KEY) as Record<string, unknown> & {
      payload: Record<string, unknown>;
    };
    assert.equal(trigger['routing_key'], ROUTING_KEY);
    assert.equal(trigger['event_action'], 'trigger');
    assert.equal(trigger['dedup_key'], failed.dedupKey);
    assert.deepEqual(
      { ...trigger.payload, custom_details: undefined },
      {
        summary: failed.title,
        source: 'orders-db',
        severity: 'error',
        timestamp: failed.occurredAt,
        component: 'orders-db',
        class: 'tidemark.backup.failed',
        group: 'tidemark',
        custom_details: undefined,
      },
    );
    assert.deepEqual(trigger.payload['custom_details'], {
      summary: failed.summary,
      Stage: 'dump',
      Attempts: '3',
      commands: failed.commands,
    });
    assert.deepEqual(pagerDutyPayload({ ...failed, kind: 'resolve' }, ROUTING_KEY), {
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: failed.dedupKey,
    });
  });

  test('e-mail: the subject is the title, [RESOLVED] first for a resolve; HTML is escaped; text has it all', () => {
    assert.equal(emailSubject(failed), failed.title);
    assert.equal(emailSubject({ ...failed, kind: 'resolve' }), `[RESOLVED] ${failed.title}`);
    const page = emailHtml(failed);
    assert.match(page, /&lt;connection refused&gt; &amp; gave up/);
    assert.doesNotMatch(page, /<connection refused>/);
    assert.match(page, /<th align="left"[^>]*>Stage<\/th><td>dump<\/td>/);
    assert.match(
      page,
      /<pre[^>]*>tidemark show 20261207T020000Z-abc\ntidemark backup orders-db --wait<\/pre>/,
    );
    const text = plainText(failed);
    for (const line of [
      'Stage: dump',
      '  tidemark backup orders-db --wait',
      `Runbook: ${failed.links[0]?.url}`,
    ]) {
      assert.ok(text.includes(line), line);
    }
  });

  test('webhook: the original CloudEvent is forwarded with the notification as extension attributes', () => {
    const event = {
      specversion: '1.0',
      id: 'ev-1',
      type: 'tidemark.backup.failed',
      source: 'x',
      data: { a: 1 },
    };
    assert.deepEqual(webhookEvent({ ...failed, event }), {
      ...event,
      tidemarknotification: 'n-1',
      tidemarknotificationkind: 'raise',
    });
    const own = webhookEvent({ ...failed, kind: 'test' });
    assert.equal(own['specversion'], '1.0');
    assert.equal(own['id'], 'n-1');
    assert.equal(own['type'], 'tidemark.notification.test');
    assert.equal((own['data'] as { dedupKey: string }).dedupKey, failed.dedupKey);
  });
});

describe('delivery', () => {
  test('each kind posts JSON to its URL; the webhook signs the exact body', async () => {
    const { fetch, requests } = scriptedFetch([() => new Response('ok', { status: 200 })]);
    const hook = createChannel(
      'audit',
      { type: 'webhook', url: 'https://hooks.example.com/in', secret: 'hook-secret-123' },
      { fetch },
    );
    const result = await hook.send(failed);
    assert.deepEqual(result, { ok: true, status: 200, attempts: 1, detail: 'HTTP 200: ok' });
    const [request] = requests;
    assert.ok(request);
    assert.equal(request.url, 'https://hooks.example.com/in');
    assert.equal(request.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
    const expected = createHmac('sha256', 'hook-secret-123').update(request.body).digest('hex');
    assert.equal(request.headers['x-tidemark-signature'], `sha256=${expected}`);
    assert.match(request.headers['x-tidemark-timestamp']!, /^\d{10}$/);
    assert.equal(request.headers['x-tidemark-notification-id'], 'n-1');
  });

  test('a webhook without a secret sends no signature', async () => {
    const { fetch, requests } = scriptedFetch([() => new Response(null, { status: 204 })]);
    await createChannel('audit', { type: 'webhook', url: 'https://hooks.example.com/in' }, { fetch }).send(
      failed,
    );
    assert.equal(requests[0]?.headers['x-tidemark-signature'], undefined);
  });

  test('500 twice then 200: delivered on the third attempt, after two growing, jittered waits', async () => {
    const { fetch, requests } = scriptedFetch([
      () => new Response('boom', { status: 500 }),
      () => new Response('boom', { status: 503 }),
      () => new Response('ok', { status: 200 }),
    ]);
    const { sleep, waits } = recordingSleep();
    const channel = createChannel(
      's',
      { type: 'slack', url: SLACK_URL },
      {
        fetch,
        sleep,
        random: () => 0.5,
        delivery: { baseDelayMs: 100, maxDelayMs: 10_000 },
      },
    );
    const result = await channel.send(failed);
    assert.deepEqual(result, { ok: true, status: 200, attempts: 3, detail: 'HTTP 200: ok' });
    assert.equal(requests.length, 3);
    assert.deepEqual(waits, [75, 150]);
  });

  test('429 with Retry-After in seconds or as an HTTP date is honoured, capped at maxDelayMs', async () => {
    const soon = new Date(Date.now() + 120_000).toUTCString();
    const { fetch } = scriptedFetch([
      () => new Response('slow down', { status: 429, headers: { 'retry-after': '3' } }),
      () => new Response('slow down', { status: 429, headers: { 'retry-after': soon } }),
      () => new Response('ok', { status: 200 }),
    ]);
    const { sleep, waits } = recordingSleep();
    const channel = createChannel(
      's',
      { type: 'slack', url: SLACK_URL },
      {
        fetch,
        sleep,
        delivery: { maxDelayMs: 60_000 },
      },
    );
    assert.equal((await channel.send(failed)).attempts, 3);
    assert.equal(waits[0], 3000);
    assert.equal(waits[1], 60_000);
  });

  test('another 4xx is not retried', async () => {
    const { fetch, requests } = scriptedFetch([() => new Response('invalid_payload', { status: 400 })]);
    const { sleep, waits } = recordingSleep();
    const result = await createChannel('s', { type: 'slack', url: SLACK_URL }, { fetch, sleep }).send(failed);
    assert.deepEqual(result, { ok: false, status: 400, attempts: 1, detail: 'HTTP 400: invalid_payload' });
    assert.equal(requests.length, 1);
    assert.deepEqual(waits, []);
  });

  test('a receiver that keeps failing is given up on after maxAttempts, saying so', async () => {
    const { fetch, requests } = scriptedFetch([() => new Response('down', { status: 502 })]);
    const { sleep, waits } = recordingSleep();
    const result = await createChannel(
      't',
      { type: 'teams', url: 'https://x.example/wf' },
      {
        fetch,
        sleep,
        random: () => 1,
        delivery: { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 3000 },
      },
    ).send(failed);
    assert.deepEqual(result, {
      ok: false,
      status: 502,
      attempts: 4,
      detail: 'HTTP 502: down (gave up after 4 attempts)',
    });
    assert.equal(requests.length, 4);
    assert.deepEqual(waits, [1000, 2000, 3000]);
  });

  test('network errors are retried and reported without the URL or key', async () => {
    const refused = () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error(`connect ECONNREFUSED for ${SLACK_URL}`), { code: 'ECONNREFUSED' }),
      });
    };
    const { fetch, requests } = scriptedFetch([refused]);
    const { sleep } = recordingSleep();
    const result = await createChannel(
      's',
      { type: 'slack', url: SLACK_URL },
      {
        fetch,
        sleep,
        delivery: { maxAttempts: 2 },
      },
    ).send(failed);
    assert.equal(result.ok, false);
    assert.equal(result.attempts, 2);
    assert.equal(requests.length, 2);
    assert.match(
      result.detail,
      /^network error: connect ECONNREFUSED for \*\*\* \(gave up after 2 attempts\)$/,
    );
    assert.ok(!result.detail.includes('SECRETSECRETSECRET'), result.detail);
    assert.ok(!result.detail.includes('/services/'), result.detail);
  });

  test("an answer that echoes the routing key or the webhook's secret is redacted", async () => {
    const { fetch } = scriptedFetch([() => new Response(`bad key ${ROUTING_KEY}`, { status: 400 })]);
    const result = await createChannel(
      'pd',
      { type: 'pagerduty', routingKey: ROUTING_KEY, url: 'https://pd.example/v2/enqueue' },
      { fetch },
    ).send(failed);
    assert.equal(result.detail, 'HTTP 400: bad key ***');
    const echo = scriptedFetch([() => new Response('secret was hook-secret-123', { status: 400 })]);
    const hook = await createChannel(
      'h',
      { type: 'webhook', url: 'https://hooks.example.com/in', secret: 'hook-secret-123' },
      { fetch: echo.fetch },
    ).send(failed);
    assert.equal(hook.detail, 'HTTP 400: secret was ***');
  });

  test('an SMTP URL whose password is not valid %-encoding still sends, and the password stays out of the result', async () => {
    const channel = createChannel(
      'm',
      {
        type: 'email',
        smtp: 'smtp://mailer:pw%zz-secret-value@127.0.0.1:1',
        from: 'a@example.com',
        to: ['b@example.com'],
      },
      { sleep: () => Promise.resolve(), delivery: { maxAttempts: 1 } },
    );
    const result = await channel.send(failed);
    assert.equal(result.ok, false);
    assert.ok(!result.detail.includes('pw%zz-secret-value'), result.detail);
  });

  test('an attempt that gets no answer within timeoutMs is retried, then reported as such', async () => {
    const hanging = (async (_input: string | URL | Request, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => {
          reject(init.signal?.reason as Error);
        });
      })) as typeof fetch;
    const { sleep } = recordingSleep();
    const result = await createChannel(
      't',
      { type: 'teams', url: 'https://x.example/wf' },
      {
        fetch: hanging,
        sleep,
        delivery: { maxAttempts: 2, timeoutMs: 20 },
      },
    ).send(failed);
    assert.deepEqual(result, {
      ok: false,
      attempts: 2,
      detail: 'no answer within 20 ms (gave up after 2 attempts)',
    });
  });

  test('a caller that aborts stops the retries', async () => {
    const controller = new AbortController();
    const { fetch, requests } = scriptedFetch([
      () => {
        controller.abort();
        return new Response('down', { status: 503 });
      },
    ]);
    const { sleep } = recordingSleep();
    const result = await createChannel(
      't',
      { type: 'teams', url: 'https://x.example/wf' },
      { fetch, sleep },
    ).send(failed, { signal: controller.signal });
    assert.equal(result.ok, false);
    assert.equal(requests.length, 1);
  });
});

describe('backoff', () => {
  test('doubles up to maxDelayMs and never drops below half of it', () => {
    const policy = { baseDelayMs: 500, maxDelayMs: 4000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => backoffMs(attempt, policy, () => 0)),
      [250, 500, 1000, 2000, 2000],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => backoffMs(attempt, policy, () => 0.999999)),
      [500, 1000, 2000, 4000, 4000],
    );
  });

  test('Retry-After: seconds, an HTTP date, or nothing usable', () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    assert.equal(retryAfterMs('7', now), 7000);
    assert.equal(retryAfterMs('Mon, 07 Dec 2026 10:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Mon, 07 Dec 2026 09:00:00 GMT', now), 0);
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs(null, now), undefined);
  });
});
