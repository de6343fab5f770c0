import { randomUUID } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import {
  create_container,
  message as amqp,
  types,
  type Connection,
  type Delivery,
  type EventContext,
  type Message,
  type Sender,
} from 'rhea';
import { compileFilter, type Filter } from './filter';

/** Message format of a batch: its body is a list of data sections, each one an encoded message. */
const BATCH_FORMAT = 0x80013700;
const MAX_MESSAGE_SIZE = 1024 * 1024;

export interface SubscriptionOptions {
  /** A SQL filter on application properties, e.g. `severity IN ('error','critical')`; default: everything. */
  filter?: string;
  /** Deliveries before a message is dead-lettered; default 10, as in Service Bus. */
  maxDeliveryCount?: number;
  /** How long a peekLock delivery stays locked; default 60 s. */
  lockDurationMs?: number;
}

/** A message as a subscription holds it, for assertions. */
export interface BrokerMessage {
  sequenceNumber: number;
  messageId: string;
  /** JSON-decoded when the body is a data section holding JSON, else as delivered. */
  body: unknown;
  subject: string | undefined;
  contentType: string | undefined;
  applicationProperties: Record<string, unknown>;
  /** Failed deliveries so far (abandoned, lock expired, receiver gone). */
  deliveryCount: number;
  enqueuedTime: Date;
  locked: boolean;
}

export interface BrokerHandle {
  readonly port: number;
  /** `Endpoint=sb://127.0.0.1:<port>;…;UseDevelopmentEmulator=true`: plain TCP, any key. */
  readonly connectionString: string;
  createTopic(name: string): void;
  createSubscription(topic: string, name: string, options?: SubscriptionOptions): void;
  messages(topic: string, subscription: string): { active: BrokerMessage[]; deadLettered: BrokerMessage[] };
  /** Drops every connection and stops listening; entities and messages are kept. */
  stop(): Promise<void>;
  /** Listens again on the same port, after stop(). */
  start(): Promise<void>;
}

interface Lock {
  token: string;
  until: number;
  delivery: Delivery;
  timer: NodeJS.Timeout;
}

interface Stored {
  sequenceNumber: number;
  message: Message;
  enqueuedTime: Date;
  deliveryCount: number;
  lock?: Lock | undefined;
}

interface Queue {
  readonly messages: Stored[];
  readonly receivers: Set<Sender>;
  readonly subscription: Subscription;
}

interface Subscription {
  readonly filter: Filter;
  readonly maxDeliveryCount: number;
  readonly lockDurationMs: number;
  readonly active: Queue;
  readonly deadLetter: Queue;
}

interface Topic {
  sequence: number;
  readonly subscriptions: Map<string, Subscription>;
}

// rhea builds outcomes at run time; its typings do not declare the factories.
const outcomes = amqp as unknown as {
  accepted(): { described(): unknown };
  rejected(fields: { error: { condition: string; description: string } }): { described(): unknown };
};

/** Service Bus lock tokens are GUIDs in .NET byte order: the SDK swaps the first three groups of the tag. */
function reorderGuid(bytes: Buffer): Buffer {
  const b = Buffer.from(bytes);
  return Buffer.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8)] as number[]);
}

function decodeBody(body: unknown): unknown {
  const section = body as { typecode?: number; content?: unknown } | undefined;
  if (section?.typecode === 0x75 && Buffer.isBuffer(section.content)) {
    try {
      return JSON.parse(section.content.toString('utf8')) as unknown;
    } catch {
      return section.content;
    }
  }
  return section?.typecode === 0x77 ? section.content : body;
}

// rhea has two Message types: the decoder's and the one links send and receive.
function decodeMessage(data: Buffer): Message {
  const decoded: unknown = amqp.decode(data);
  return decoded as Message;
}

/**
 * The encoded messages of a batch. rhea decodes one data section as `{ content: Buffer }` and only several as
 * `{ multiple: true, content: Buffer[] }`: a batch holding a single message is the first kind.
 */
function batchContents(raw: Buffer): Buffer[] {
  const body = amqp.decode(raw).body as
    { typecode?: number; content?: unknown; multiple?: boolean } | undefined;
  const sections: unknown[] = body?.multiple ? (body.content as unknown[]) : [body?.content];
  if (body?.typecode !== 0x75 || !sections.every((section) => Buffer.isBuffer(section)))
    throw new Error('a batch body must be data sections, each one an encoded message');
  return sections;
}

// Typed as a string by rhea, but absent when a peer attaches without an address.
function addressOf(terminus: { address?: unknown } | undefined): string {
  return typeof terminus?.address === 'string' ? terminus.address : '';
}

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function toLong(value: unknown): number {
  if (Buffer.isBuffer(value)) return Number(value.readBigInt64BE());
  return Number(value);
}

/**
 * A small in-memory AMQP 1.0 broker that speaks enough of Service Bus for `@azure/service-bus` to send to topics
 * and receive from subscriptions (peekLock and receiveAndDelete), for tests. Not product code.
 */
export async function startBroker(options: { port?: number } = {}): Promise<BrokerHandle> {
  const broker = new Broker(options.port ?? 0);
  await broker.start();
  return broker;
}

class Broker implements BrokerHandle {
  private readonly topics = new Map<string, Topic>();
  private readonly container = create_container({
    id: 'tidemark-test-broker',
    // Dispositions are settled by hand (onOutcome), messages accepted only once enqueued, abandon kept apart.
    autoaccept: false,
    treat_modified_as_released: false,
  });
  private readonly locks = new Map<string, { queue: Queue; stored: Stored }>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  constructor(private listenPort: number) {
    this.container.on('sender_open', (context: EventContext) => {
      this.onSenderOpen(context);
    });
    this.container.on('receiver_open', (context: EventContext) => {
      this.onReceiverOpen(context);
    });
    this.container.on('message', (context: EventContext) => {
      this.onMessage(context);
    });
    for (const outcome of ['accepted', 'rejected', 'released', 'modified'])
      this.container.on(outcome, (context: EventContext) => {
        this.onOutcome(context, outcome);
      });
    this.container.on('sendable', (context: EventContext) => {
      this.pumpFor(context.sender);
    });
    this.container.on('sender_draining', (context: EventContext) => {
      const sender = context.sender;
      if (!sender) return;
      this.pumpFor(sender);
      if (sender.has_credit()) sender.set_drained(true);
    });
    this.container.on('sender_close', (context: EventContext) => {
      if (context.sender) this.dropReceiver(context.sender);
    });
    this.container.on('disconnected', (context: EventContext) => {
      this.dropConnection(context.connection);
    });
    this.container.on('connection_close', (context: EventContext) => {
      this.dropConnection(context.connection);
    });
    // A client that vanishes must not crash the test process.
    this.container.on('error', () => undefined);
  }

  get port(): number {
    return this.listenPort;
  }

  get connectionString(): string {
    return `Endpoint=sb://127.0.0.1:${this.listenPort};SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true`;
  }

  createTopic(name: string): void {
    if (!this.topics.has(name.toLowerCase()))
      this.topics.set(name.toLowerCase(), { sequence: 0, subscriptions: new Map() });
  }

  createSubscription(topic: string, name: string, options: SubscriptionOptions = {}): void {
    const entity = this.topic(topic);
    if (!entity) throw new Error(`no topic ${topic}`);
    const subscription = {
      filter: compileFilter(options.filter ?? '1=1'),
      maxDeliveryCount: options.maxDeliveryCount ?? 10,
      lockDurationMs: options.lockDurationMs ?? 60_000,
    } as Subscription;
    Object.assign(subscription, {
      active: { messages: [], receivers: new Set(), subscription },
      deadLetter: { messages: [], receivers: new Set(), subscription },
    });
    entity.subscriptions.set(name.toLowerCase(), subscription);
  }

  messages(topic: string, subscription: string): { active: BrokerMessage[]; deadLettered: BrokerMessage[] } {
    const entity = this.topic(topic)?.subscriptions.get(subscription.toLowerCase());
    if (!entity) throw new Error(`no subscription ${topic}/${subscription}`);
    return { active: entity.active.messages.map(view), deadLettered: entity.deadLetter.messages.map(view) };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = this.container.listen({ port: this.listenPort, host: '127.0.0.1' });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const address = server.address();
    if (address && typeof address === 'object') this.listenPort = address.port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    // Abruptly, as an outage would: clients see their sockets die and have to reconnect.
    // With an error: rhea listens for 'error' and 'end' only, and would otherwise keep the connection's heartbeat
    // timer and its receivers' locks as if the client were still there.
    for (const socket of this.sockets) socket.destroy(new Error('broker stopped'));
    await closed;
  }

  private topic(name: string): Topic | undefined {
    return this.topics.get(name.toLowerCase());
  }

  /** `topic/Subscriptions/name[/$DeadLetterQueue]` → the queue behind it. */
  private queue(address: string): Queue | undefined {
    const [topic, kind, name, dlq, ...rest] = address.split('/');
    if (kind?.toLowerCase() !== 'subscriptions' || !topic || !name || rest.length > 0) return undefined;
    const subscription = this.topic(topic)?.subscriptions.get(name.toLowerCase());
    if (!subscription) return undefined;
    if (dlq === undefined) return subscription.active;
    return dlq.toLowerCase() === '$deadletterqueue' ? subscription.deadLetter : undefined;
  }

  private onSenderOpen(context: EventContext): void {
    const sender = context.sender;
    if (!sender) return;
    const address = addressOf(sender.source);
    sender.set_source(sender.source);
    if (address === '$cbs' || address.endsWith('/$management')) return;
    const queue = this.queue(address);
    if (!queue) {
      sender.close({
        condition: 'amqp:not-found',
        description: `The messaging entity '${address}' could not be found.`,
      });
      return;
    }
    queue.receivers.add(sender);
    this.pump(queue);
  }

  private onReceiverOpen(context: EventContext): void {
    const receiver = context.receiver;
    if (!receiver) return;
    const address = addressOf(receiver.target);
    receiver.set_target(receiver.target);
    (
      receiver as unknown as { local: { attach: { max_message_size: number } } }
    ).local.attach.max_message_size = MAX_MESSAGE_SIZE;
    if (address === '$cbs' || address.endsWith('/$management') || this.topic(address)) return;
    receiver.close({
      condition: 'amqp:not-found',
      description: `The messaging entity '${address}' could not be found.`,
    });
  }

  private onMessage(context: EventContext): void {
    const { receiver, delivery } = context;
    if (!receiver || !delivery) return;
    const address = addressOf(receiver.target);
    if (address === '$cbs') {
      this.reply(context, 200, {}, { 'status-description': 'OK' });
    } else if (address.endsWith('/$management')) {
      this.manage(context, address.slice(0, -'/$management'.length));
    } else {
      const raw = context.message as Message | Buffer;
      let batch: Message[];
      try {
        batch =
          (context as { format?: number }).format === BATCH_FORMAT && Buffer.isBuffer(raw)
            ? batchContents(raw).map(decodeMessage)
            : [raw as Message];
      } catch (error) {
        // Thrown out of a rhea handler, this would tear down the client's whole connection.
        delivery.reject({ condition: 'amqp:decode-error', description: String(error) });
        return;
      }
      for (const message of batch) this.enqueue(address, message);
    }
    delivery.accept();
  }

  private enqueue(topicName: string, message: Message): void {
    const topic = this.topic(topicName);
    if (!topic) return;
    message.message_id ??= randomUUID();
    topic.sequence += 1;
    const properties = (message.application_properties ?? {}) as Record<string, unknown>;
    for (const subscription of topic.subscriptions.values()) {
      if (!subscription.filter(properties)) continue;
      subscription.active.messages.push({
        sequenceNumber: topic.sequence,
        message,
        enqueuedTime: new Date(),
        deliveryCount: 0,
      });
      this.pump(subscription.active);
    }
  }

  private pumpFor(sender: Sender | undefined): void {
    if (!sender) return;
    const queue = this.queue(addressOf(sender.source));
    if (queue?.receivers.has(sender)) this.pump(queue);
  }

  /** Hands available messages to receivers with credit, oldest first. */
  private pump(queue: Queue): void {
    for (const sender of queue.receivers) {
      while (sender.sendable()) {
        const stored = queue.messages.find((m) => !m.lock);
        if (!stored) return;
        this.deliver(queue, sender, stored);
      }
    }
  }

  private deliver(queue: Queue, sender: Sender, stored: Stored): void {
    const token = randomUUID();
    const until = Date.now() + queue.subscription.lockDurationMs;
    const message = annotated(stored, new Date(until));
    const tag = reorderGuid(Buffer.from(token.replaceAll('-', ''), 'hex'));
    const delivery = sender.send(message, tag);
    if (sender.snd_settle_mode === 1) {
      // receiveAndDelete: gone once sent.
      queue.messages.splice(queue.messages.indexOf(stored), 1);
      return;
    }
    const timer = setTimeout(() => {
      this.fail(queue, stored, 'lock expired');
    }, queue.subscription.lockDurationMs);
    timer.unref();
    stored.lock = { token, until, delivery, timer };
    this.locks.set(token, { queue, stored });
  }

  private unlock(stored: Stored): void {
    if (!stored.lock) return;
    clearTimeout(stored.lock.timer);
    this.locks.delete(stored.lock.token);
    stored.lock = undefined;
  }

  /** A delivery that did not succeed (abandon, lock expiry, receiver gone): retry or dead-letter. */
  private fail(queue: Queue, stored: Stored, why: string): void {
    this.unlock(stored);
    stored.deliveryCount += 1;
    if (
      stored.deliveryCount >= queue.subscription.maxDeliveryCount &&
      queue !== queue.subscription.deadLetter
    ) {
      this.deadLetter(
        queue,
        stored,
        'MaxDeliveryCountExceeded',
        `delivered ${stored.deliveryCount} times (${why})`,
      );
    }
    this.pump(queue);
  }

  private deadLetter(queue: Queue, stored: Stored, reason: string, description: string): void {
    this.unlock(stored);
    queue.messages.splice(queue.messages.indexOf(stored), 1);
    const message = {
      ...stored.message,
      application_properties: {
        ...(stored.message.application_properties as object | undefined),
        DeadLetterReason: reason,
        DeadLetterErrorDescription: description,
      },
    } as Message;
    const target = queue.subscription.deadLetter;
    target.messages.push({ ...stored, message, lock: undefined });
    this.pump(target);
  }

  private onOutcome(context: EventContext, outcome: string): void {
    const { delivery, sender } = context;
    if (!delivery || !sender) return;
    const token = reorderGuid(Buffer.from(delivery.tag as Buffer)).toString('hex');
    const key = `${token.slice(0, 8)}-${token.slice(8, 12)}-${token.slice(12, 16)}-${token.slice(16, 20)}-${token.slice(20)}`;
    const entry = this.locks.get(key);
    if (!entry || entry.stored.lock?.delivery !== delivery) {
      const error = {
        condition: 'com.microsoft:message-lock-lost',
        description: 'The lock supplied is invalid.',
      };
      delivery.update(true, outcomes.rejected({ error }).described());
      return;
    }
    const { queue, stored } = entry;
    const state = (delivery.remote_state ?? {}) as {
      error?: { condition?: string; info?: Record<string, unknown> };
      undeliverable_here?: boolean;
    };
    if (outcome === 'accepted') {
      this.unlock(stored);
      queue.messages.splice(queue.messages.indexOf(stored), 1);
    } else if (outcome === 'rejected') {
      const info = state.error?.info ?? {};
      this.deadLetter(
        queue,
        stored,
        text(info['DeadLetterReason'], state.error?.condition ?? 'rejected'),
        text(info['DeadLetterErrorDescription'], ''),
      );
    } else if (outcome === 'released') {
      this.unlock(stored);
      this.pump(queue);
    } else {
      this.fail(queue, stored, 'abandoned');
    }
    delivery.update(true, outcomes.accepted().described());
  }

  private dropReceiver(sender: Sender): void {
    for (const [, { queue, stored }] of this.locks) {
      if (stored.lock?.delivery.link === sender) this.fail(queue, stored, 'receiver closed');
    }
    for (const topic of this.topics.values())
      for (const subscription of topic.subscriptions.values()) {
        subscription.active.receivers.delete(sender);
        subscription.deadLetter.receivers.delete(sender);
      }
  }

  private dropConnection(connection: Connection): void {
    for (const topic of this.topics.values())
      for (const subscription of topic.subscriptions.values())
        for (const queue of [subscription.active, subscription.deadLetter])
          for (const sender of queue.receivers)
            if (sender.connection === connection) this.dropReceiver(sender);
  }

  /** `renew-lock` and `peek-message` on `<entity>/$management`. */
  private manage(context: EventContext, entity: string): void {
    const request = context.message as Message;
    const operation = String(
      (request.application_properties as Record<string, unknown> | undefined)?.['operation'],
    );
    const body = (request.body ?? {}) as Record<string, unknown>;
    const queue = this.queue(entity);
    if (!queue) {
      this.reply(context, 404, {}, { errorCondition: 'amqp:not-found' });
      return;
    }
    if (operation === 'com.microsoft:renew-lock') {
      const expirations: Date[] = [];
      for (const raw of body['lock-tokens'] as Buffer[]) {
        const hex = Buffer.from(raw).toString('hex');
        const key = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
        const lock = this.locks.get(key)?.stored.lock;
        if (!lock) {
          this.reply(context, 410, {}, { errorCondition: 'com.microsoft:message-lock-lost' });
          return;
        }
        const { queue: owner, stored } = this.locks.get(key) as { queue: Queue; stored: Stored };
        lock.until = Date.now() + owner.subscription.lockDurationMs;
        clearTimeout(lock.timer);
        lock.timer = setTimeout(() => {
          this.fail(owner, stored, 'lock expired');
        }, owner.subscription.lockDurationMs);
        lock.timer.unref();
        expirations.push(new Date(lock.until));
      }
      this.reply(context, 200, { expirations });
    } else if (operation === 'com.microsoft:peek-message') {
      const from = toLong(body['from-sequence-number']);
      const count = Number(body['message-count'] ?? 1);
      const peeked = queue.messages.filter((m) => m.sequenceNumber >= from).slice(0, count);
      if (peeked.length === 0) {
        this.reply(context, 204, {});
        return;
      }
      const messages = peeked.map((stored) => ({
        message: amqp.encode(annotated(stored)),
      }));
      this.reply(context, 200, { messages });
    } else {
      this.reply(
        context,
        501,
        {},
        { errorCondition: 'amqp:not-implemented', 'status-description': operation },
      );
    }
  }

  private reply(
    context: EventContext,
    status: number,
    body: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ): void {
    const request = context.message as Message;
    const replyTo = text(request.reply_to, '');
    const link = context.connection.find_sender(
      (s: Sender) => s.name === replyTo || addressOf(s.target) === replyTo,
    );
    link?.send({
      correlation_id: request.message_id,
      to: replyTo,
      application_properties: { 'status-code': status, statusCode: status, ...extra },
      body,
    });
  }
}

function view(stored: Stored): BrokerMessage {
  const message = stored.message;
  return {
    sequenceNumber: stored.sequenceNumber,
    messageId: String(message.message_id),
    body: decodeBody(message.body),
    subject: message.subject,
    contentType: message.content_type,
    applicationProperties: { ...(message.application_properties as Record<string, unknown> | undefined) },
    deliveryCount: stored.deliveryCount,
    enqueuedTime: stored.enqueuedTime,
    locked: stored.lock !== undefined,
  };
}

/** A stored message as the SDK expects it delivered or peeked: delivery count and the broker's annotations. */
function annotated(stored: Stored, lockedUntil?: Date): Message {
  return {
    ...stored.message,
    delivery_count: stored.deliveryCount,
    message_annotations: {
      ...(stored.message.message_annotations as object | undefined),
      'x-opt-sequence-number': types.wrap_long(stored.sequenceNumber),
      'x-opt-enqueued-time': stored.enqueuedTime,
      ...(lockedUntil ? { 'x-opt-locked-until': lockedUntil } : {}),
    },
  };
}
