import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ConfigError } from './config-error';
import { durationMs } from './duration';
import { validateConfig } from './validate-config';

// The block's format with a made-up kind; the real kinds' keys are checked in libs/config, which passes them.
const CHANNEL_KINDS = [
  {
    name: 'bell',
    settings: z.object({ url: z.string(), loud: z.boolean().default(false) }),
    secrets: ['url'],
  },
];

function config(notifications: unknown): Record<string, unknown> {
  return {
    policies: { p: { schedule: '0 2 * * *' } },
    targets: [{ id: 't', kind: 'x', url: '/x', policy: 'p' }],
    notifications,
  };
}

function problems(raw: unknown): string[] {
  try {
    validateConfig(raw, undefined, { channelKinds: CHANNEL_KINDS, eventTypes: ['a.b', 'a.c'] });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('durations', () => {
  test('days, hours, minutes and seconds, alone or together', () => {
    assert.equal(durationMs('4h'), 4 * 3_600_000);
    assert.equal(durationMs('90m'), 90 * 60_000);
    assert.equal(durationMs('1d12h'), 36 * 3_600_000);
    assert.equal(durationMs('1h30m15s'), 5_415_000);
  });

  test('nothing, zero, other units or spaces are not durations', () => {
    for (const text of ['', '0h', '4 h', '4H', '1w', 'h', '3', '1m1h'])
      assert.equal(durationMs(text), undefined, text);
  });
});

describe('the notifications block with the kinds it is given', () => {
  test("a kind's defaults are filled in, and secrets stay references", () => {
    const parsed = validateConfig(
      config({ channels: { b: { type: 'bell', url: '${BELL_URL}' } } }),
      undefined,
      {
        channelKinds: CHANNEL_KINDS,
      },
    );
    assert.deepEqual(parsed.notifications!.channels['b'], { type: 'bell', url: '${BELL_URL}', loud: false });
    assert.deepEqual(parsed.notifications!.routes, []);
  });

  test('a route with no channel, an unknown severity or event type, a bad digest period', () => {
    const lines = problems(
      config({
        channels: { b: { type: 'bell', url: '${BELL_URL}' } },
        routes: [{ match: { severity: ['fatal'], types: ['a.z'] }, channels: [], digest: 'hourly' }],
      }),
    );
    assert.deepEqual(lines.sort(), [
      'notifications.routes[0].channels: name at least one channel',
      'notifications.routes[0].digest: must be one of daily, weekly',
      'notifications.routes[0].match.severity[0]: must be one of critical, error, warning, info',
      'notifications.routes[0].match.types[0]: unknown event type "a.z" (known: a.b, a.c)',
    ]);
  });

  test('a channel name that cannot be one, a dashboard URL that is not http(s)', () => {
    assert.deepEqual(
      problems(
        config({ channels: { 'bad name': { type: 'bell', url: '${U}' } }, dashboardUrl: 'ftp://x' }),
      ).sort(),
      [
        'notifications.channels["bad name"]: is not a valid channel name (1-63 letters, digits, _ and -, starting with a letter or digit)',
        'notifications.dashboardUrl: must be an http(s) URL',
      ],
    );
  });
});
