import { ACCESS_TIERS, chainSchema, runSchema, STAGES, TRIGGERS } from '@tidemark/manifest';
import { z } from 'zod';

export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;

export type Severity = (typeof SEVERITIES)[number];

const bytes = z.number().nonnegative();
const milliseconds = z.number().nonnegative();
const count = z.number().int().nonnegative();
const isoTime = z.iso.datetime({ offset: true });
/** On failure: a code and a one-line message with no secret in it (createEvent redacts it once more). */
const failure = z.object({ code: z.string().min(1), message: z.string() });
const tier = z.enum(ACCESS_TIERS);
const verifyDetails = {
  stage: z.literal('verify'),
  sizes: z.object({ compressed: bytes }),
  durations: z.object({ verify: milliseconds, restoreTest: milliseconds.optional() }),
  checks: z.object({ checksum: z.boolean(), structure: z.boolean(), restoreTest: z.boolean().nullable() }),
};
const overdueLevel = z.enum(['ok', 'warning', 'critical']);
/** One check or assertion of a restore drill, as its report records it (values as text, never data rows). */
const drillCheck = z.object({
  name: z.string(),
  expected: z.string().optional(),
  actual: z.string().optional(),
  detail: z.string().optional(),
});
const drillDetails = {
  stage: z.literal('drill'),
  drillId: z.string().min(1),
  /** The report's blob name (`<targetId>/drills/<drillId>.json`). */
  report: z.string().min(1),
  tier: tier.nullable(),
  /** The backup (or a member of its chain) had to be rehydrated from Archive first. */
  rehydrated: z.boolean(),
  rto: z.object({
    seconds: z.number().nonnegative(),
    targetSeconds: z.number().positive(),
    breached: z.boolean(),
  }),
  durations: z.object({
    rehydrate: milliseconds,
    download: milliseconds,
    restore: milliseconds,
    checks: milliseconds,
  }),
};

/**
 * Who did something, never with a credential: an API caller by its API key's config name or its Entra token's
 * subject (and client application), a CLI run against storage directly by the operating-system user running it.
 */
export const auditActorSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('api-key'), name: z.string().min(1) }),
  z.strictObject({ kind: z.literal('entra'), subject: z.string().min(1), app: z.string().min(1).optional() }),
  /** An API without `api.auth` (loopback only) or with `auth: none`. */
  z.strictObject({ kind: z.literal('anonymous') }),
  z.strictObject({ kind: z.literal('local'), user: z.string().min(1) }),
]);
export type AuditActor = z.infer<typeof auditActorSchema>;

/** An audit event: who, through what, and the action's own fields (when: the event's `time`). */
function audit<T extends z.ZodRawShape>(what: T) {
  return {
    severity: 'info',
    data: z.strictObject({ actor: auditActorSchema, via: z.enum(['api', 'cli']), ...what }),
  } as const;
}

interface EventSpec {
  readonly severity: Severity;
  readonly data: z.ZodObject;
}

/**
 * The wire format of every event, as `JOBS` is of every command: each type's default severity and the schema of
 * what its `data` carries besides `targetId` and `backupId` (DESIGN §6, the README's events section). Adding an
 * event type is one entry here; `EventPublisher.emit` then takes exactly that data, checked by the compiler.
 *
 * A schema is strict at the top (a misspelt field is an error naming it) but its nested objects are not, and
 * readers use {@link readSchema}, which accepts fields added later: a consumer of this version keeps reading the
 * events of the next.
 *
 * In the order of a backup's life, then the others.
 */
export const EVENTS = {
  'tidemark.backup.requested': {
    severity: 'info',
    data: z.strictObject({ stage: z.literal('dump'), trigger: z.enum(TRIGGERS) }),
  },
  'tidemark.backup.dumped': {
    severity: 'info',
    data: z.strictObject({
      stage: z.literal('dump'),
      sizes: z.object({ raw: bytes, compressed: bytes }),
      durations: z.object({ dump: milliseconds }),
      parts: count,
      tables: count,
      /** Directory-like kinds: how many files the dump holds. */
      files: count.optional(),
      chain: chainSchema.optional(),
      /** A member of a server run names the run and its database, so a waiter learns every member. */
      run: runSchema.optional(),
      database: z.string().optional(),
    }),
  },
  'tidemark.backup.uploaded': {
    severity: 'info',
    data: z.strictObject({
      stage: z.literal('upload'),
      sizes: z.object({ compressed: bytes }),
      durations: z.object({ upload: milliseconds }),
      blobName: z.string().optional(),
      tier: tier.nullable().optional(),
    }),
  },
  'tidemark.backup.verified': { severity: 'info', data: z.strictObject(verifyDetails) },
  'tidemark.backup.failed': {
    severity: 'error',
    data: z.strictObject({ stage: z.enum(STAGES), attempts: count, error: failure }),
  },
  'tidemark.backup.corrupt': {
    severity: 'critical',
    data: z.strictObject({ ...verifyDetails, error: failure }),
  },
  /**
   * The blob's checksum was checked but its content could not be: the verifier lacks the age identity
   * (`key-missing`) or has none that matches (`key-mismatch`). The backup stays `uploaded`, not `corrupt`.
   */
  'tidemark.backup.unverifiable': {
    severity: 'error',
    data: z.strictObject({
      stage: z.literal('verify'),
      sizes: z.object({ compressed: bytes }),
      durations: z.object({ verify: milliseconds }),
      checks: z.object({ checksum: z.boolean() }),
      error: failure,
    }),
  },
  /** Also the recovery (`recovered: true`, severity info); the publisher sets warning or critical by level. */
  'tidemark.backup.overdue': {
    severity: 'warning',
    data: z.strictObject({
      rpoHours: z.number().positive(),
      ageSeconds: z.number().nonnegative().nullable(),
      lastVerifiedBackupId: z.string().nullable(),
      reason: z.enum(['rpo-exceeded', 'missed-schedule']),
      level: overdueLevel,
      previousLevel: overdueLevel,
      missedRunAt: isoTime.optional(),
      recovered: z.boolean().optional(),
    }),
  },
  'tidemark.retention.applied': {
    severity: 'info',
    data: z.strictObject({
      stage: z.literal('retention'),
      counts: z.object({
        kept: count,
        deleted: count,
        resumed: count,
        tiered: count,
        localRemoved: count,
        localKept: count,
        unreadable: count,
        failed: count,
      }),
      sizes: z.object({ freed: bytes }),
      bytesFreed: bytes,
      bytesPerTier: z.record(tier, bytes),
      deleted: z.array(z.string()),
      tiered: z.array(z.object({ backupId: z.string(), from: tier, to: tier })),
      unreadable: z.array(z.string()).optional(),
      localKept: z.array(z.object({ backupId: z.string(), reason: z.string() })).optional(),
      failures: z.array(z.object({ backupId: z.string(), step: z.string(), message: z.string() })).optional(),
      /** Immutable storage: backups kept only because still locked, and locks extended (until when). */
      locked: z.array(z.object({ backupId: z.string(), until: z.string() })).optional(),
      locksExtended: z.array(z.object({ backupId: z.string(), until: z.string() })).optional(),
      /** Physical targets: the WAL archive's share of the run. */
      wal: z
        .strictObject({
          deleted: count,
          tiered: count,
          bytesFreed: bytes,
          bytesPerTier: z.record(tier, bytes),
          failures: z
            .array(z.object({ blobName: z.string(), step: z.string(), message: z.string() }))
            .optional(),
        })
        .optional(),
    }),
  },
  'tidemark.restore.completed': {
    severity: 'info',
    data: z.strictObject({
      stage: z.literal('restore'),
      destination: z.string(),
      sizes: z.object({ compressed: bytes }),
      durations: z.object({ restore: milliseconds }),
    }),
  },
  'tidemark.restore.failed': {
    severity: 'error',
    data: z.strictObject({
      stage: z.literal('restore'),
      durations: z.object({ restore: milliseconds }).optional(),
      error: failure,
    }),
  },
  'tidemark.storage.low_disk': {
    severity: 'warning',
    data: z.strictObject({
      stage: z.literal('dump'),
      sizes: z.object({ free: bytes, needed: bytes, reserve: bytes }),
      path: z.string(),
    }),
  },
  'tidemark.schedule.restored': {
    severity: 'warning',
    data: z.strictObject({
      reason: z.enum(['missing', 'stalled']),
      schedule: z.string(),
      timezone: z.string(),
      /** At most 50: the tick times due since the scheduler was last seen in place. */
      missedTicks: z.array(isoTime),
      missedTickCount: count,
      nextRun: isoTime,
    }),
  },
  /** WAL shipped to Blob Storage, batched: one event per archiver flush, not one per segment. */
  'tidemark.wal.archived': {
    severity: 'info',
    data: z.strictObject({
      timeline: z.number().int().min(1),
      segments: count,
      partials: count,
      histories: count,
      sizes: z.object({ raw: bytes, compressed: bytes }),
      /** The newest WAL file shipped in the batch, and when its last byte was received. */
      last: z.object({ file: z.string(), receivedAt: isoTime }),
      route: z.enum(['stream', 'spool']),
    }),
  },
  /** Shipping WAL failed (it stays on the archiver's disk or in the slot and is retried). */
  'tidemark.wal.archive_failed': {
    severity: 'error',
    data: z.strictObject({ file: z.string().optional(), attempts: count, error: failure }),
  },
  /** The archive cannot replay through some range: a missing segment or history file, or a checksum mismatch. */
  'tidemark.wal.gap': {
    severity: 'error',
    data: z.strictObject({
      problems: z
        .array(
          z.object({
            kind: z.enum(['missing-segment', 'missing-history', 'checksum-mismatch', 'unreadable']),
            timeline: z.number().int().min(1),
            file: z.string(),
            detail: z.string().optional(),
          }),
        )
        .min(1),
      /** How many problems there were in all (`problems` holds at most the first 50). */
      problemCount: count,
      checkedFrom: z.string(),
      checkedTo: z.string(),
    }),
  },
  /**
   * The notifier gave up delivering a notification to a channel (after the channel's own retries). Names the channel
   * and its kind, never its URL, key or address; `targetId`/`backupId` are the notified event's.
   */
  'tidemark.notification.failed': {
    severity: 'error',
    data: z.strictObject({
      channel: z.string().min(1),
      channelKind: z.string().min(1),
      notificationId: z.string().min(1),
      dedupKey: z.string().min(1),
      attempts: count,
      /** The receiver's last HTTP status (or SMTP reply code); null when none answered. */
      status: z.number().int().nullable(),
      reason: z.string(),
    }),
  },
  // Restore drills (libs/drills): `backupId` is the backup drilled; the report blob holds every detail.
  'tidemark.drill.completed': { severity: 'info', data: z.strictObject(drillDetails) },
  /** Critical (set by the publisher) when the RTO was breached or an assertion failed; error otherwise. */
  'tidemark.drill.failed': {
    severity: 'error',
    data: z.strictObject({
      ...drillDetails,
      /** The checks and assertions that did not hold, each with what was expected and what was found. */
      failed: z.array(drillCheck),
      error: failure.optional(),
    }),
  },
  /** Someone asked for a backup now (the REST trigger or `tidemark backup`); `backupId` is the one started or joined. */
  'tidemark.audit.backup_requested': audit({ coalesced: z.boolean() }),
  /** Someone started a restore of `backupId` (before it runs: a crash still leaves the record). */
  'tidemark.audit.restore_requested': audit({
    /** Where to, with any password masked. */
    destination: z.string(),
    /** A point-in-time restore's goal, in the words of the restore's own output (a time, a WAL position, latest). */
    pointInTime: z.string().optional(),
  }),
  'tidemark.audit.pinned': audit({}),
  'tidemark.audit.unpinned': audit({}),
  /** Someone applied the retention plan of the target by hand. */
  'tidemark.audit.retention_applied': audit({ deleted: count, tiered: count }),
} as const satisfies Record<string, EventSpec>;

export type EventType = keyof typeof EVENTS;

export const EVENT_TYPES = Object.keys(EVENTS) as readonly EventType[];

export const DEFAULT_SEVERITY: Readonly<Record<EventType, Severity>> = Object.fromEntries(
  EVENT_TYPES.map((type) => [type, EVENTS[type].severity]),
) as Record<EventType, Severity>;

/** What a service puts into an event of type T besides the target and backup: what `emit` takes. */
export type EventDetails<T extends EventType = EventType> = z.input<(typeof EVENTS)[T]['data']>;

/** The `data` of an event of type T as it travels: the target, the backup if any, and the details. */
export type EventData<T extends EventType = EventType> = EventIds & z.output<(typeof EVENTS)[T]['data']>;

// A type, not an interface: an event's data must stay assignable to CommonEventData's index signature.
export type EventIds = { targetId: string; backupId?: string };

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENTS, value);
}

/** A payload that does not match its event type's schema. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
  readonly code = 'invalid-event';
}

/** Validates the details of an event of `type`; the error names the field and what is wrong with it. */
export function parseEventDetails<T extends EventType>(type: T, details: unknown): EventDetails<T> {
  const result = EVENTS[type].data.safeParse(details);
  if (result.success) return details as EventDetails<T>;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  throw new InvalidEventError(
    `invalid ${type} data: ${path ? `${path}: ` : ''}${issue?.message ?? 'malformed'}`,
  );
}

const READ_SCHEMAS: ReadonlyMap<EventType, z.ZodObject> = new Map(
  EVENT_TYPES.map((type) => [type, EVENTS[type].data.loose()]),
);

/** The schema a reader checks an event's `data` against: its type's, accepting fields it does not know. */
export function readSchema(type: EventType): z.ZodObject {
  return READ_SCHEMAS.get(type) ?? EVENTS[type].data.loose();
}
