import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventSchema, type TidemarkEvent } from './event';
import type { EventBus, StoredEvent } from './event-bus';
import { EventPublisher } from './event-publisher';

class RecordingBus implements EventBus {
  readonly published: TidemarkEvent[] = [];
  constructor(private readonly failWith?: Error) {}
  publish(event: TidemarkEvent): Promise<void> {
    if (this.failWith) return Promise.reject(this.failWith);
    this.published.push(event);
    return Promise.resolve();
  }
  history(): Promise<StoredEvent[]> {
    return Promise.resolve([]);
  }
  // eslint-disable-next-line require-yield
  async *follow(): AsyncIterable<StoredEvent> {
    await Promise.resolve();
  }
  consume(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const requested = { stage: 'dump', trigger: 'manual' } as const;

describe('EventPublisher', () => {
  test('publishes a valid event from its service', async () => {
    const bus = new RecordingBus();
    const publisher = new EventPublisher(bus, 'uploader');
    const event = await publisher.emit('tidemark.backup.uploaded', 'orders-db', '20261121T020000Z-k3f9xq', {
      stage: 'upload',
      sizes: { compressed: 1024 },
      durations: { upload: 1500 },
    });
    assert.deepEqual(bus.published, [event]);
    assert.ok(eventSchema.safeParse(event).success);
    assert.equal(event.source, '/tidemark/uploader');
    assert.equal(event.severity, 'info');
    assert.deepEqual(event.data.sizes, { compressed: 1024 });
  });

  test('never throws when the bus fails: it warns without secrets and returns the event', async () => {
    const warnings: { obj: object; msg: string }[] = [];
    const bus = new RecordingBus(new Error('connect ECONNREFUSED redis://:hunter2@cache:6379'));
    const publisher = new EventPublisher(bus, 'dumper', { warn: (obj, msg) => warnings.push({ obj, msg }) });
    const event = await publisher.emit(
      'tidemark.backup.failed',
      'orders-db',
      undefined,
      { stage: 'dump', attempts: 1, error: { code: 'source-unreachable', message: 'connect failed' } },
      'critical',
    );
    assert.equal(event.type, 'tidemark.backup.failed');
    assert.equal(event.severity, 'critical');
    assert.equal(event.subject, 'orders-db');
    assert.equal(warnings.length, 1);
    const [warning] = warnings;
    assert.ok(warning);
    assert.equal(warning.msg, 'event publish failed');
    const logged = JSON.stringify(warning.obj);
    assert.ok(logged.includes(event.id));
    assert.ok(logged.includes('ECONNREFUSED'));
    assert.ok(!logged.includes('hunter2'));
  });

  test('never throws even without a logger or with a logger that throws', async () => {
    const bus = new RecordingBus(new Error('down'));
    await new EventPublisher(bus, 'dumper').emit('tidemark.backup.requested', 't', undefined, requested);
    const throwing = new EventPublisher(bus, 'dumper', {
      warn: () => {
        throw new Error('logger broken');
      },
    });
    const event = await throwing.emit('tidemark.backup.requested', 't', 'b', requested);
    assert.equal(event.subject, 't/b');
  });

  test('data that does not match its type (cast around the types) is logged, naming the field, and published', async () => {
    const warnings: { obj: object; msg: string }[] = [];
    const bus = new RecordingBus();
    const publisher = new EventPublisher(bus, 'dumper', { warn: (obj, msg) => warnings.push({ obj, msg }) });
    const wrong = { stage: 'dump', trigger: 'manual', triger: 'manual' } as unknown as typeof requested;
    const event = await publisher.emit('tidemark.backup.requested', 't', 'b', wrong);
    assert.deepEqual(bus.published, [event], 'published all the same');
    assert.deepEqual(
      warnings.map((w) => w.msg),
      ['event data invalid'],
    );
    assert.match(JSON.stringify(warnings[0]?.obj), /invalid tidemark\.backup\.requested data: .*triger/);
  });

  test('the compiler refuses a wrong field, a wrong type or a missing field', async () => {
    const publisher = new EventPublisher(new RecordingBus(), 'dumper');
    const error = { code: 'x', message: 'y' };
    // @ts-expect-error attempts is a number
    await publisher.emit('tidemark.backup.failed', 't', 'b', { stage: 'dump', attempts: '1', error });
    // @ts-expect-error no such field on backup.failed
    await publisher.emit('tidemark.backup.failed', 't', 'b', { stage: 'dump', attempts: 1, error, size: 1 });
    // @ts-expect-error error is required on backup.failed
    await publisher.emit('tidemark.backup.failed', 't', 'b', { stage: 'dump', attempts: 1 });
    // @ts-expect-error a verified event carries its checks, not an error alone
    await publisher.emit('tidemark.backup.verified', 't', 'b', { stage: 'verify', error });
  });
});
