import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { DEFAULT_SEVERITY, EVENT_TYPES, SEVERITIES, type EventType, type Severity } from './event-types';
import { redact } from '@tidemark/redaction';

/** What a service puts into an event besides the target and backup (`Omit<EventData, 'targetId' | 'backupId'>`). */
export interface EventDetails {
  stage?: string;
  sizes?: Record<string, number>;
  /** Milliseconds. */
  durations?: Record<string, number>;
  error?: { code: string; message: string };
  [key: string]: unknown;
}

// Spelt out rather than Omit<>, which would collapse an index-signature type to its index signature.
export interface EventData extends EventDetails {
  targetId: string;
  backupId?: string;
}

/** A CloudEvents 1.0 event in structured JSON mode, with the `severity` extension attribute. */
export interface TidemarkEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: EventType;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  severity: Severity;
  data: EventData;
}

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

export interface CreateEventInput {
  type: EventType;
  /** The service name (`dumper`) or the full source (`/tidemark/dumper`). */
  source: string;
  targetId: string;
  backupId?: string | undefined;
  severity?: Severity | undefined;
  data?: EventDetails | undefined;
}

export function eventSource(service: string): string {
  return service.startsWith('/') ? service : `/tidemark/${service}`;
}

export function createEvent(input: CreateEventInput): TidemarkEvent {
  const data: EventData = { ...input.data, targetId: input.targetId };
  if (input.backupId !== undefined) data.backupId = input.backupId;
  // A last guard: whoever built the error, its message leaves the process without secrets.
  if (input.data?.error)
    data.error = { code: input.data.error.code, message: redact(input.data.error.message) };
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
