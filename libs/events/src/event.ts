import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  DEFAULT_SEVERITY,
  EVENT_TYPES,
  readSchema,
  SEVERITIES,
  type EventData,
  type EventDetails,
  type EventType,
  type Severity,
} from './event-types';
import { redact } from '@tidemark/redaction';

/**
 * The fields every event's data may carry, whatever its type: what a reader may use without knowing the type.
 * {@link isEvent} gives the exact data of one type.
 */
export interface CommonEventDetails {
  stage?: string;
  sizes?: Record<string, number>;
  /** Milliseconds. */
  durations?: Record<string, number>;
  error?: { code: string; message: string };
  [key: string]: unknown;
}

// Spelt out rather than Omit<>, which would collapse an index-signature type to its index signature.
export interface CommonEventData extends CommonEventDetails {
  targetId: string;
  backupId?: string;
}

/** A CloudEvents 1.0 event in structured JSON mode, with the `severity` extension attribute. */
export interface TidemarkEvent<T extends EventType = EventType> {
  specversion: '1.0';
  id: string;
  source: string;
  type: T;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  severity: Severity;
  data: CommonEventData;
}

/** An event of type T whose data is known to match T's schema (see {@link isEvent}). */
export type TypedEvent<T extends EventType> = TidemarkEvent<T> & { data: EventData<T> };

const numberRecord = z.record(z.string(), z.number());

export const eventDataSchema = z
  .object({
    targetId: z.string().min(1),
    backupId: z.string().min(1).optional(),
    stage: z.string().min(1).optional(),
    sizes: numberRecord.optional(),
    durations: numberRecord.optional(),
    error: z.object({ code: z.string().min(1), message: z.string() }).optional(),
  })
  .catchall(z.unknown());

/** Validates the envelope of an event read from outside (a stream, a topic). */
export const eventSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.uuid(),
  source: z.string().regex(/^\/tidemark\/[a-z0-9][a-z0-9-]*$/, 'must be /tidemark/<service>'),
  type: z.enum(EVENT_TYPES),
  subject: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal('application/json'),
  severity: z.enum(SEVERITIES),
  data: eventDataSchema,
});

export interface CreateEventInput<T extends EventType = EventType> {
  type: T;
  /** The service name (`dumper`) or the full source (`/tidemark/dumper`). */
  source: string;
  targetId: string;
  backupId?: string | undefined;
  severity?: Severity | undefined;
  data?: EventDetails<T> | undefined;
}

export function eventSource(service: string): string {
  return service.startsWith('/') ? service : `/tidemark/${service}`;
}

/** Builds the envelope; the data is not checked here (EventPublisher.emit checks it against its type). */
export function createEvent<T extends EventType>(input: CreateEventInput<T>): TidemarkEvent<T> {
  // Every type's details fit the common shape; the generic type cannot show it.
  const details = input.data as CommonEventDetails | undefined;
  const data: CommonEventData = { ...details, targetId: input.targetId };
  if (input.backupId !== undefined) data.backupId = input.backupId;
  // A last guard: whoever built the error, its message leaves the process without secrets.
  if (details?.error) data.error = { code: details.error.code, message: redact(details.error.message) };
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: eventSource(input.source),
    type: input.type,
    subject: input.backupId === undefined ? input.targetId : `${input.targetId}/${input.backupId}`,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    severity: input.severity ?? DEFAULT_SEVERITY[input.type],
    data,
  };
}

/**
 * Whether `event` is of `type` with data that matches the type's schema; narrows `event.data` to that type's.
 * Fields this version does not know are accepted, so a reader keeps up with a newer writer.
 */
export function isEvent<T extends EventType>(event: TidemarkEvent, type: T): event is TypedEvent<T> {
  return event.type === type && readSchema(type).safeParse(event.data).success;
}

/** The data of `event` if it is of `type` (see {@link isEvent}); undefined otherwise. */
export function eventData<T extends EventType>(event: TidemarkEvent, type: T): EventData<T> | undefined {
  return isEvent(event, type) ? event.data : undefined;
}
