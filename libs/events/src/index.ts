export {
  auditActorSchema,
  type AuditActor,
  EVENTS,
  EVENT_TYPES,
  SEVERITIES,
  DEFAULT_SEVERITY,
  InvalidEventError,
  isEventType,
  parseEventDetails,
  readSchema,
  type EventData,
  type EventDetails,
  type EventIds,
  type EventType,
  type Severity,
} from './event-types';
export {
  createEvent,
  eventData,
  eventSchema,
  eventDataSchema,
  eventSource,
  isEvent,
  type CommonEventData,
  type CommonEventDetails,
  type CreateEventInput,
  type TidemarkEvent,
  type TypedEvent,
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
export { DEFAULT_KEY_ROOT, redisKey, redisKeyRoot } from './redis-keys';
