import { setTimeout as sleep } from 'node:timers/promises';
import type { TokenCredential } from '@azure/identity';
import type {
  ServiceBusClient,
  ServiceBusMessage,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from '@azure/service-bus';
import { DEFAULT_EVENTS_TOPIC } from '@tidemark/environment';
import { eventSchema, type TidemarkEvent } from './event';
import type { EventBus, EventHandler, FollowOptions, HistoryOptions, StoredEvent } from './event-bus';
import { errorData } from '@tidemark/redaction';
import type { WarnLogger } from './redis-stream-event-bus';

export { DEFAULT_EVENTS_TOPIC };

// The SDKs load when a Service Bus bus is made, not with this module: a deployment whose events go to a Redis
// Stream never pays for them (the Service Bus SDK with its AMQP stack and @azure/identity are ~10 MiB of RSS in
// every process that imports @tidemark/events).
/* eslint-disable @typescript-eslint/no-require-imports */
const serviceBusSdk = (): typeof import('@azure/service-bus') =>
  require('@azure/service-bus') as typeof import('@azure/service-bus');
const identitySdk = (): typeof import('@azure/identity') =>
  require('@azure/identity') as typeof import('@azure/identity');
/* eslint-enable @typescript-eslint/no-require-imports */
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/** A connection string, or a namespace (`name` or `name.servicebus.windows.net`) with an Entra ID credential. */
export type ServiceBusAuth =
  { connectionString: string } | { namespace: string; credential?: TokenCredential | undefined };

export interface ServiceBusEventBusOptions {
  /** Default `tidemark-events`. */
  topic?: string;
  /** The subscription `follow` receives from and `history` peeks; default `cli`. */
  subscription?: string;
  /** Told about failed handlers, dead-lettered messages and receive errors. */
  logger?: WarnLogger;
  /**
   * Longest a send may take, retries included (default 30 s). A send racing a dropped connection can otherwise wait
   * for an acknowledgement that never comes, and the outbox forwarder would stall behind it.
   */
  sendTimeoutMs?: number;
}

const RECEIVE_BATCH = 50;
// The longest a receive waits before the loop checks for abort and close.
const RECEIVE_WAIT_MS = 2000;
const RETRY_DELAY_MS = 1000;
const PEEK_PAGE = 250;
/** history() looks at no more than this many messages: peeking is a scan from the oldest. */
const HISTORY_SCAN_LIMIT = 10_000;

/** The Service Bus message of an event: structured-mode CloudEvent body, filterable properties. */
export function toServiceBusMessage(event: TidemarkEvent): ServiceBusMessage {
  const applicationProperties: Record<string, string> = {
    type: event.type,
    severity: event.severity,
    targetId: event.data.targetId,
  };
  if (event.data.backupId !== undefined) applicationProperties['backupId'] = event.data.backupId;
  return {
    // A Buffer goes out as one data section holding exactly this JSON, readable by any AMQP client.
    body: Buffer.from(JSON.stringify(event), 'utf8'),
    contentType: CLOUDEVENTS_CONTENT_TYPE,
    subject: event.type,
    // Duplicate detection on the topic drops a re-sent event (an outbox retry after a crash).
    messageId: event.id,
    applicationProperties,
  };
}

/** The event in a received message, or undefined when the body is not a Tidemark CloudEvent. */
export function fromServiceBusMessage(
  message: Pick<ServiceBusReceivedMessage, 'body'>,
): TidemarkEvent | undefined {
  const body: unknown = message.body;
  let json: unknown = body;
  try {
    if (Buffer.isBuffer(body)) json = JSON.parse(body.toString('utf8'));
    else if (typeof body === 'string') json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = eventSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

function fullyQualified(namespace: string): string {
  const host = namespace.replace(/^sb:\/\//, '').replace(/\/+$/, '');
  return host.includes('.') ? host : `${host}.servicebus.windows.net`;
}

/**
 * Events on an Azure Service Bus topic. `consume(group)` receives from the subscription named `group`, which must
 * exist (subscriptions are infrastructure, like the topic). Limits, because a topic is not a log:
 * - `follow` receives from one subscription (default `cli`) and completes what it yields: several followers of the
 *   same subscription share its messages, and `from` is ignored (a subscription starts when it is created);
 * - `history` peeks that subscription: only messages still in it (not yet received by a follower, not expired),
 *   at most the first 10000 of them.
 */
export class ServiceBusEventBus implements EventBus {
  readonly topic: string;
  readonly subscription: string;
  private readonly client: ServiceBusClient;
  private readonly sender;
  private readonly logger: WarnLogger | undefined;
  private readonly sendTimeoutMs: number;
  private readonly receivers = new Set<ServiceBusReceiver>();
  private closed = false;

  constructor(auth: ServiceBusAuth, options: ServiceBusEventBusOptions = {}) {
    this.topic = options.topic ?? DEFAULT_EVENTS_TOPIC;
    this.subscription = options.subscription ?? 'cli';
    this.logger = options.logger;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
    const { ServiceBusClient: Client } = serviceBusSdk();
    this.client =
      'connectionString' in auth
        ? new Client(auth.connectionString)
        : new Client(
            fullyQualified(auth.namespace),
            auth.credential ?? new (identitySdk().DefaultAzureCredential)(),
          );
    this.sender = this.client.createSender(this.topic);
  }

  async publish(event: TidemarkEvent): Promise<void> {
    this.assertOpen();
    await this.sender.sendMessages(toServiceBusMessage(event), {
      abortSignal: AbortSignal.timeout(this.sendTimeoutMs),
    });
  }

  /** Sends the events in order, as few batches as fit; a failure may leave a prefix of them sent. */
  async publishBatch(events: readonly TidemarkEvent[]): Promise<void> {
    this.assertOpen();
    const options = { abortSignal: AbortSignal.timeout(this.sendTimeoutMs) };
    let batch = await this.sender.createMessageBatch(options);
    for (const event of events) {
      const message = toServiceBusMessage(event);
      if (batch.tryAddMessage(message)) continue;
      if (batch.count === 0) throw new Error(`event ${event.id} is larger than a Service Bus message may be`);
      await this.sender.sendMessages(batch, options);
      batch = await this.sender.createMessageBatch(options);
      if (!batch.tryAddMessage(message))
        throw new Error(`event ${event.id} is larger than a Service Bus message may be`);
    }
    if (batch.count > 0) await this.sender.sendMessages(batch, options);
  }

  async history(options: HistoryOptions = {}): Promise<StoredEvent[]> {
    this.assertOpen();
    const limit = options.limit ?? 100;
    const receiver = this.open(this.subscription);
    const found: StoredEvent[] = [];
    try {
      // Each peek on one receiver continues after the last message it peeked.
      for (let scanned = 0; scanned < HISTORY_SCAN_LIMIT;) {
        const page = await receiver.peekMessages(PEEK_PAGE);
        if (page.length === 0) break;
        scanned += page.length;
        for (const message of page) {
          const event = fromServiceBusMessage(message);
          if (!event) continue;
          if (options.targetId !== undefined && event.data.targetId !== options.targetId) continue;
          if (options.backupId !== undefined && event.data.backupId !== options.backupId) continue;
          found.push({ id: String(message.sequenceNumber ?? event.id), event });
        }
      }
    } finally {
      await this.release(receiver);
    }
    return found.slice(-limit);
  }

  async *follow(options: FollowOptions): AsyncIterable<StoredEvent> {
    const { signal } = options;
    if (signal.aborted) return;
    this.assertOpen();
    const receiver = this.open(this.subscription);
    try {
      while (!this.stopped(signal)) {
        const messages = await this.receive(receiver, signal);
        for (const message of messages) {
          const event = fromServiceBusMessage(message);
          if (event) yield { id: String(message.sequenceNumber ?? event.id), event };
          // Completed once the caller took it (or it is garbage no follower can use).
          await receiver.completeMessage(message).catch((error: unknown) => {
            this.logger?.warn({ error: errorData(error) }, 'could not complete a followed event');
          });
          if (this.stopped(signal)) return;
        }
      }
    } finally {
      await this.release(receiver);
    }
  }

  async consume(group: string, consumer: string, handler: EventHandler, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    this.assertOpen();
    const receiver = this.open(group);
    try {
      while (!this.stopped(signal)) {
        for (const message of await this.receive(receiver, signal)) {
          await this.deliver(receiver, group, consumer, message, handler);
        }
      }
    } finally {
      await this.release(receiver);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.receivers].map((receiver) => this.release(receiver)));
    await this.sender.close().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }

  private async deliver(
    receiver: ServiceBusReceiver,
    group: string,
    consumer: string,
    message: ServiceBusReceivedMessage,
    handler: EventHandler,
  ): Promise<void> {
    const event = fromServiceBusMessage(message);
    try {
      if (!event) {
        // No retry can turn this body into an event: park it where an operator can look at it.
        this.logger?.warn(
          { group, messageId: message.messageId },
          'dead-lettering a message that is not an event',
        );
        await receiver.deadLetterMessage(message, {
          deadLetterReason: 'NotACloudEvent',
          deadLetterErrorDescription: 'the body is not a Tidemark CloudEvent (structured JSON)',
        });
        return;
      }
      try {
        await handler(event);
      } catch (error) {
        this.logger?.warn(
          { group, consumer, eventId: event.id, type: event.type, error: errorData(error) },
          'event handler failed',
        );
        // Back to the subscription at once; after maxDeliveryCount attempts Service Bus dead-letters it.
        await receiver.abandonMessage(message);
        return;
      }
      await receiver.completeMessage(message);
    } catch (error) {
      // The lock was lost or the link went away: the message comes back when its lock expires.
      this.logger?.warn({ group, messageId: message.messageId, error: errorData(error) }, 'settling failed');
    }
  }

  private async receive(
    receiver: ServiceBusReceiver,
    signal: AbortSignal,
  ): Promise<ServiceBusReceivedMessage[]> {
    try {
      return await receiver.receiveMessages(RECEIVE_BATCH, {
        maxWaitTimeInMs: RECEIVE_WAIT_MS,
        abortSignal: signal,
      });
    } catch (error) {
      if (this.stopped(signal)) return [];
      this.logger?.warn(
        { topic: this.topic, subscription: receiver.entityPath, error: errorData(error) },
        'event receive failed, retrying',
      );
      await sleep(RETRY_DELAY_MS, undefined, { signal }).catch(() => undefined);
      return [];
    }
  }

  private open(subscription: string): ServiceBusReceiver {
    const receiver = this.client.createReceiver(this.topic, subscription, { receiveMode: 'peekLock' });
    this.receivers.add(receiver);
    return receiver;
  }

  private async release(receiver: ServiceBusReceiver): Promise<void> {
    this.receivers.delete(receiver);
    await receiver.close().catch(() => undefined);
  }

  // A method, not an inline test: both flags change while awaiting, which narrowing would not see.
  private stopped(signal: AbortSignal): boolean {
    return signal.aborted || this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event bus is closed');
  }
}
