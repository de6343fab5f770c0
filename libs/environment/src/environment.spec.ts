import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EnvironmentError, environmentOf, parseEnvironment } from './environment';

describe('parseEnvironment', () => {
  test('an empty environment is every default', () => {
    const env = parseEnvironment({});
    assert.equal(env.REDIS_URL, 'redis://127.0.0.1:6379');
    assert.equal(env.HOST, '127.0.0.1');
    assert.equal(env.LOG_LEVEL, 'info');
    assert.equal(env.PORT, undefined);
    assert.equal(env.TIDEMARK_NAMESPACE, undefined);
    assert.equal(env.TIDEMARK_EVENTS_TOPIC, 'tidemark-events');
    assert.equal(env.TIDEMARK_EVENTS_SUBSCRIPTION, 'cli');
    assert.equal(env.TIDEMARK_OUTBOX_MAX_EVENTS, undefined);
    assert.equal(env.TIDEMARK_RETRY_DELAY_MS, 5000);
    assert.equal(env.TIDEMARK_RETRY_MAX_DELAY_MS, undefined);
    assert.equal(env.TIDEMARK_UNAVAILABLE_RETRY_MS, 15 * 60_000);
    assert.equal(env.TIDEMARK_SCHEDULE_RECONCILE_MS, 60_000);
    assert.equal(env.TIDEMARK_SCHEDULE_GRACE_MS, 5 * 60_000);
    assert.equal(env.TIDEMARK_WATCHDOG_INTERVAL_MS, 60_000);
    assert.equal(env.TIDEMARK_WATCHDOG_GRACE_MS, 15 * 60_000);
    assert.equal(env.TIDEMARK_GAUGE_INTERVAL_MS, 30_000);
    assert.equal(env.TIDEMARK_RETENTION_RETRY_MS, 60_000);
  });

  test('set values are typed; empty means unset; storage values are trimmed', () => {
    const env = parseEnvironment({
      PORT: '3002',
      TIDEMARK_NAMESPACE: 'blue',
      TIDEMARK_CONFIG: '',
      HOST: '',
      TIDEMARK_RETRY_DELAY_MS: '300',
      TIDEMARK_RETRY_MAX_DELAY_MS: '',
      TIDEMARK_OUTBOX_MAX_EVENTS: '10',
      AZURE_STORAGE_CONNECTION_STRING: '  UseDevelopmentStorage=true\n',
      AZURE_STORAGE_ACCOUNT_URL: '   ',
    });
    assert.equal(env.PORT, 3002);
    assert.equal(env.TIDEMARK_NAMESPACE, 'blue');
    assert.equal(env.TIDEMARK_CONFIG, undefined);
    assert.equal(env.HOST, '127.0.0.1');
    assert.equal(parseEnvironment({ HOST: '0.0.0.0' }).HOST, '0.0.0.0');
    assert.equal(env.TIDEMARK_RETRY_DELAY_MS, 300);
    assert.equal(env.TIDEMARK_RETRY_MAX_DELAY_MS, undefined);
    assert.equal(env.TIDEMARK_OUTBOX_MAX_EVENTS, 10);
    assert.equal(env.AZURE_STORAGE_CONNECTION_STRING, 'UseDevelopmentStorage=true');
    assert.equal(env.AZURE_STORAGE_ACCOUNT_URL, undefined);
  });

  test('one error names every bad variable, one line each', () => {
    const error = (() => {
      try {
        parseEnvironment({
          PORT: 'http',
          TIDEMARK_NAMESPACE: 'Blue Team!',
          TIDEMARK_RETRY_DELAY_MS: '-5',
          TIDEMARK_OUTBOX_MAX_EVENTS: '1.5',
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(error instanceof EnvironmentError);
    assert.deepEqual(error.message.split('\n'), [
      'TIDEMARK_NAMESPACE: "Blue Team!" is not a namespace (1-32 characters: a-z, 0-9 and "-", starting and ending with a letter or digit)',
      'PORT: "http" is not a port number',
      'TIDEMARK_OUTBOX_MAX_EVENTS: "1.5" is not a positive integer',
      'TIDEMARK_RETRY_DELAY_MS: "-5" is not a positive number',
    ]);
    assert.deepEqual(
      error.issues.map((i) => i.variable),
      ['TIDEMARK_NAMESPACE', 'PORT', 'TIDEMARK_OUTBOX_MAX_EVENTS', 'TIDEMARK_RETRY_DELAY_MS'],
    );
  });

  test('environmentOf parses a given environment and ignores variables it does not know', () => {
    assert.equal(
      environmentOf({ REDIS_URL: 'redis://r:6379', ORDERS_DB_URL: 'x' }).REDIS_URL,
      'redis://r:6379',
    );
  });
});
