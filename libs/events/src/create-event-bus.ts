import { environmentOf, type RawEnvironment } from '@tidemark/environment';
import type { EventBus } from './event-bus';
import { OutboxEventBus } from './outbox-event-bus';
import { redisKey } from './redis-keys';
import { RedisStreamEventBus, type WarnLogger } from './redis-stream-event-bus';
import { DEFAULT_EVENTS_TOPIC, ServiceBusEventBus } from './service-bus-event-bus';

export interface CreateEventBusOptions {
  logger?: WarnLogger;
  /** Forward the Service Bus outbox from this process (default true); see OutboxEventBus. */
  forward?: boolean;
}

/**
 * The event transport the environment asks for:
 * - `AZURE_SERVICEBUS_CONNECTION_STRING`, or `AZURE_SERVICEBUS_NAMESPACE` (then `DefaultAzureCredential`): the
 *   Service Bus topic `TIDEMARK_EVENTS_TOPIC` (default `tidemark-events`) behind a Redis outbox; `follow` and
 *   `history` use the subscription `TIDEMARK_EVENTS_SUBSCRIPTION` (default `cli`);
 * - otherwise the Redis Stream `tidemark:events`.
 * Redis is `REDIS_URL` (default `redis://127.0.0.1:6379`) either way; every key starts with the namespace's root
 * (`tidemark`, or `tidemark-<TIDEMARK_NAMESPACE>`).
 */
export function createEventBus(raw?: RawEnvironment, options: CreateEventBusOptions = {}): EventBus {
  const env = environmentOf(raw);
  const connectionString = env.AZURE_SERVICEBUS_CONNECTION_STRING;
  const namespace = env.AZURE_SERVICEBUS_NAMESPACE;
  const logger = options.logger ? { logger: options.logger } : {};
  if (!connectionString && !namespace)
    return new RedisStreamEventBus(env.REDIS_URL, { stream: redisKey('events', raw), ...logger });
  const topic = env.TIDEMARK_EVENTS_TOPIC;
  const bus = new ServiceBusEventBus(
    connectionString ? { connectionString } : { namespace: namespace ?? '' },
    {
      topic,
      subscription: env.TIDEMARK_EVENTS_SUBSCRIPTION,
      ...logger,
    },
  );
  const maxPending = env.TIDEMARK_OUTBOX_MAX_EVENTS;
  return new OutboxEventBus(env.REDIS_URL, bus, {
    // One outbox per topic: two deployments on one Redis must not forward each other's events.
    key: redisKey(topic === DEFAULT_EVENTS_TOPIC ? 'outbox' : `outbox:${topic}`, raw),
    forward: options.forward ?? true,
    ...(maxPending === undefined ? {} : { maxPending }),
    ...logger,
  });
}
