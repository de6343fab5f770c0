import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceBusClient } from '@azure/service-bus';
import { startBroker, type BrokerHandle } from './broker';

// The real SDK against the broker: what the events transport relies on.
describe('startBroker with @azure/service-bus', () => {
  let broker: BrokerHandle;
  let client: ServiceBusClient;

  before(async () => {
    broker = await startBroker();
    client = new ServiceBusClient(broker.connectionString);
  });

  after(async () => {
    await client.close();
    await broker.stop();
  });

  test('single messages and batches reach every matching subscription with their properties', async () => {
    broker.createTopic('send');
    broker.createSubscription('send', 'all');
    broker.createSubscription('send', 'alerts', { filter: "severity IN ('error','critical')" });
    const sender = client.createSender('send');
    await sender.sendMessages({
      body: { n: 1 },
      subject: 's1',
      contentType: 'application/json',
      messageId: 'm-1',
      applicationProperties: { severity: 'info' },
    });
    const batch = await sender.createMessageBatch();
    assert.ok(batch.tryAddMessage({ body: { n: 2 }, applicationProperties: { severity: 'error' } }));
    assert.ok(batch.tryAddMessage({ body: { n: 3 }, applicationProperties: { severity: 'critical' } }));
    await sender.sendMessages(batch);
    await sender.close();

    const all = broker.messages('send', 'all').active;
    assert.deepEqual(
      all.map((m) => m.body),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    );
    assert.deepEqual(
      all.map((m) => m.sequenceNumber),
      [1, 2, 3],
    );
    const [single] = all;
    assert.ok(single);
    assert.equal(single.messageId, 'm-1');
    assert.equal(single.subject, 's1');
    assert.equal(single.contentType, 'application/json');
    // Messages sent without an id get one: the SDK's lock renewal needs it.
    assert.ok(all[1]?.messageId);
    assert.deepEqual(
      broker.messages('send', 'alerts').active.map((m) => m.body),
      [{ n: 2 }, { n: 3 }],
    );
  });

  test('a batch of one message is enqueued, and the connection stays up for the next send', async () => {
    broker.createTopic('one');
    broker.createSubscription('one', 'all');
    const sender = client.createSender('one');
    // One message is a single data section, which rhea does not decode as a list.
    const batch = await sender.createMessageBatch();
    assert.ok(batch.tryAddMessage({ body: { n: 1 }, messageId: 'only' }));
    await sender.sendMessages(batch, { abortSignal: AbortSignal.timeout(5000) });
    await sender.sendMessages({ body: { n: 2 } }, { abortSignal: AbortSignal.timeout(5000) });
    await sender.close();
    assert.deepEqual(
      broker.messages('one', 'all').active.map((m): unknown[] => [m.messageId, m.body]),
      [
        ['only', { n: 1 }],
        [broker.messages('one', 'all').active[1]?.messageId, { n: 2 }],
      ],
    );
  });

  test('peekLock: complete removes, abandon redelivers with a delivery count, dead-letter moves', async () => {
    broker.createTopic('lock');
    broker.createSubscription('lock', 'sub');
    const sender = client.createSender('lock');
    await sender.sendMessages([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    const receiver = client.createReceiver('lock', 'sub');
    const first = await receiver.receiveMessages(3, { maxWaitTimeInMs: 2000 });
    assert.deepEqual(
      first.map((m): unknown[] => [m.body as unknown, m.deliveryCount, m.sequenceNumber?.toNumber()]),
      [
        ['a', 0, 1],
        ['b', 0, 2],
        ['c', 0, 3],
      ],
    );
    assert.ok(first.every((m) => m.lockToken && m.lockedUntilUtc && m.enqueuedTimeUtc));
    const [a, b, c] = first as [(typeof first)[0], (typeof first)[0], (typeof first)[0]];
    const renewed = await receiver.renewMessageLock(b);
    assert.ok(renewed.getTime() > Date.now());
    await receiver.completeMessage(a);
    await receiver.abandonMessage(b);
    await receiver.deadLetterMessage(c, { deadLetterReason: 'bad', deadLetterErrorDescription: 'garbage' });

    const again = await receiver.receiveMessages(3, { maxWaitTimeInMs: 1000 });
    assert.deepEqual(
      again.map((m): unknown[] => [m.body as unknown, m.deliveryCount]),
      [['b', 1]],
    );
    await receiver.completeMessage(again[0]!);
    // Settling twice is refused: the lock is gone.
    await assert.rejects(receiver.completeMessage(again[0]!));

    const dlq = client.createReceiver('lock', 'sub', { subQueueType: 'deadLetter' });
    const dead = await dlq.receiveMessages(5, { maxWaitTimeInMs: 1000 });
    assert.deepEqual(
      dead.map((m): unknown[] => [m.body as unknown, m.deadLetterReason, m.deadLetterErrorDescription]),
      [['c', 'bad', 'garbage']],
    );
    await dlq.completeMessage(dead[0]!);
    assert.deepEqual(broker.messages('lock', 'sub'), { active: [], deadLettered: [] });
    await Promise.all([sender.close(), receiver.close(), dlq.close()]);
  });

  test('an expired lock redelivers; after maxDeliveryCount the message is dead-lettered', async () => {
    broker.createTopic('expiry');
    broker.createSubscription('expiry', 'sub', { lockDurationMs: 200, maxDeliveryCount: 3 });
    const sender = client.createSender('expiry');
    await sender.sendMessages({ body: 'x' });
    // No auto-renewal, so the lock really lapses.
    const receiver = client.createReceiver('expiry', 'sub', { maxAutoLockRenewalDurationInMs: 0 });
    const counts: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
      assert.ok(message, `delivery ${i + 1}`);
      counts.push(message.deliveryCount ?? -1);
      await sleep(300);
    }
    assert.deepEqual(counts, [0, 1, 2]);
    const { active, deadLettered } = broker.messages('expiry', 'sub');
    assert.equal(active.length, 0);
    assert.equal(deadLettered.length, 1);
    assert.equal(deadLettered[0]?.applicationProperties['DeadLetterReason'], 'MaxDeliveryCountExceeded');
    await Promise.all([sender.close(), receiver.close()]);
  });

  test('peek shows active messages without locking them', async () => {
    broker.createTopic('peek');
    broker.createSubscription('peek', 'sub');
    const sender = client.createSender('peek');
    await sender.sendMessages([{ body: 1 }, { body: 2 }]);
    const receiver = client.createReceiver('peek', 'sub');
    assert.deepEqual(
      (await receiver.peekMessages(10)).map((m): unknown => m.body),
      [1, 2],
    );
    assert.deepEqual(await receiver.peekMessages(10), []);
    assert.equal(broker.messages('peek', 'sub').active.filter((m) => m.locked).length, 0);
    await Promise.all([sender.close(), receiver.close()]);
  });

  test('an unknown entity is refused', async () => {
    const sender = client.createSender('no-such-topic');
    await assert.rejects(sender.sendMessages({ body: 1 }), /could not be found/);
    await sender.close();
  });

  test('stop() drops clients, start() comes back on the same port with everything kept', async () => {
    broker.createTopic('outage');
    broker.createSubscription('outage', 'sub');
    const sender = client.createSender('outage');
    await sender.sendMessages({ body: 'before' });
    const port = broker.port;
    await broker.stop();
    const failing = sender.sendMessages({ body: 'during' }, { abortSignal: AbortSignal.timeout(1500) });
    await assert.rejects(failing);
    await broker.start();
    assert.equal(broker.port, port);
    await sender.sendMessages({ body: 'after' });
    assert.deepEqual(
      broker.messages('outage', 'sub').active.map((m) => m.body),
      ['before', 'after'],
    );
    await sender.close();
  });
});
