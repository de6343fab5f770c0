export {
  EVENT_TYPES,
  SEVERITIES,
  DEFAULT_SEVERITY,
  isEventType,
  type EventType,
  type Severity,
} from './event-types';
export {
  createEvent,
  eventSchema,
  eventDataSchema,
  eventSource,
  type CreateEventInput,
  type EventData,
  type EventDetails,
  type TidemarkEvent,
} from './event';
// One redact for the whole code base; re-exported so the events' users need no second import.
export { errorData, redact } from '@tidemark/redaction';
export type { EventBus, EventHandler, FollowOptions, HistoryOptions, StoredEvent } from './event-bus';
export {
  RedisStreamEventBus,
  type RedisStreamEventBusOptions,
  type WarnLogger,
} from './redis-stream-event-bus';
export {
  ServiceBusEventBus,
  DEFAULT_EVENTS_TOPIC,
  CLOUDEVENTS_CONTENT_TYPE,
  toServiceBusMessage,
  fromServiceBusMessage,
  type ServiceBusAuth,
  type ServiceBusEventBusOptions,
} from './service-bus-event-bus';
export { OutboxEventBus, type OutboxEventBusOptions } from './outbox-event-bus';
export { createEventBus, type CreateEventBusOptions } from './create-event-bus';
export { EventPublisher } from './event-publisher';
export { EventsModule, EVENT_BUS, type EventsModuleOptions } from './events.module';
export { DEFAULT_KEY_ROOT, NAMESPACE_ENV, NamespaceError, redisKey, redisKeyRoot } from './redis-keys';
