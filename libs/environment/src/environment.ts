import { z } from 'zod';

/**
 * One schema for the environment variables the services read, with their defaults: parsed once at start
 * (bootstrapService), so a bad value stops the service with one line naming the variable instead of surfacing
 * later. `${VAR}` references of target urls are not here: the config names them (libs/config checks them).
 */
export type RawEnvironment = Readonly<Record<string, string | undefined>>;

/** Unset and empty are the same: `VAR=` in a compose file means "not set". */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));
/** As above, with surrounding whitespace dropped (a connection string pasted with a newline). */
const optionalTrimmed = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined));

/** A positive number (milliseconds, a count); unset or empty: `fallback`. */
function positive<T extends number | undefined>(fallback: T, integer = false) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): number | T => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value))) return value;
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(raw)} is not a positive ${integer ? 'integer' : 'number'}`,
      });
      return z.NEVER;
    });
}

const port = z
  .string()
  .optional()
  .transform((raw, ctx): number | undefined => {
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (Number.isInteger(value) && value >= 0 && value <= 65535) return value;
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not a port number` });
    return z.NEVER;
  });

// Lower-case letters, digits and inner dashes: safe in a key, a BullMQ prefix and a Kubernetes label.
const NAMESPACE_FORMAT = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const namespace = optionalText.superRefine((value, ctx) => {
  if (value === undefined || NAMESPACE_FORMAT.test(value)) return;
  const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  ctx.addIssue({
    code: 'custom',
    message: `${shown} is not a namespace (1-32 characters: a-z, 0-9 and "-", starting and ending with a letter or digit)`,
  });
});

export const DEFAULT_EVENTS_TOPIC = 'tidemark-events';

export const environmentSchema = z.object({
  /** Queues, locks and the event outbox. */
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** The config file; unset: /etc/tidemark/tidemark.yaml (libs/config). */
  TIDEMARK_CONFIG: optionalText,
  /** Installations sharing one Redis: keys under `tidemark-<namespace>`. Unset: today's `tidemark` keys. */
  TIDEMARK_NAMESPACE: namespace,
  /** Unset: the service's own default port. */
  PORT: port,
  /**
   * The address the HTTP app listens on: loopback unless told otherwise (the image sets 0.0.0.0). A service that
   * answers without tokens (no `api.auth`) refuses any other address (libs/api-auth).
   */
  HOST: optionalText.transform((host) => host ?? '127.0.0.1'),
  LOG_LEVEL: z.string().default('info'),
  AZURE_STORAGE_CONNECTION_STRING: optionalTrimmed,
  AZURE_STORAGE_ACCOUNT_URL: optionalTrimmed,
  AZURE_SERVICEBUS_CONNECTION_STRING: optionalText,
  AZURE_SERVICEBUS_NAMESPACE: optionalText,
  TIDEMARK_EVENTS_TOPIC: z.string().default(DEFAULT_EVENTS_TOPIC),
  /** The subscription `tidemark events` reads. */
  TIDEMARK_EVENTS_SUBSCRIPTION: z.string().default('cli'),
  /** Unset: the outbox's own cap. */
  TIDEMARK_OUTBOX_MAX_EVENTS: positive(undefined, true),
  /** Base retry delay of the stages; tests shorten it so failure paths finish quickly. */
  TIDEMARK_RETRY_DELAY_MS: positive(5000),
  /** Unset: 16 x the base delay. */
  TIDEMARK_RETRY_MAX_DELAY_MS: positive(undefined),
  TIDEMARK_UNAVAILABLE_RETRY_MS: positive(15 * 60 * 1000),
  TIDEMARK_SCHEDULE_RECONCILE_MS: positive(60_000),
  TIDEMARK_SCHEDULE_GRACE_MS: positive(5 * 60_000),
  TIDEMARK_WATCHDOG_INTERVAL_MS: positive(60_000),
  TIDEMARK_WATCHDOG_GRACE_MS: positive(15 * 60_000),
  TIDEMARK_GAUGE_INTERVAL_MS: positive(30_000),
  TIDEMARK_RETENTION_RETRY_MS: positive(60_000),
  /** Part files of a dump; 16 MiB: small enough that the upload of the last part adds little after the dump. */
  TIDEMARK_PART_SIZE_MB: positive(16),
  /** Each pass reads every manifest of the catalog: every few minutes is enough for a bound of half an hour. */
  TIDEMARK_RECONCILE_INTERVAL_MS: positive(5 * 60_000),
  /**
   * Longer than a stage's whole retry budget for an outage (15 minutes by default), so a retrying job is never
   * mistaken for a dead one even if its state could not be read.
   */
  TIDEMARK_RECONCILE_STUCK_AFTER_MS: positive(30 * 60_000),
  /** The archiver's local WAL directory: pg_receivewal writes `<dir>/<targetId>` (lost data is refetched). */
  TIDEMARK_ARCHIVER_SPOOL_DIR: z.string().default('/var/lib/tidemark/wal'),
  /**
   * How long a target's streaming lease outlives its holder's last renewal (renewed every third of it): how long a
   * target goes unstreamed after its archiver dies.
   */
  TIDEMARK_ARCHIVER_LEASE_TTL_MS: positive(30_000),
  /** How often an archiver that streams nothing tries to take a free lease. */
  TIDEMARK_ARCHIVER_ACQUIRE_INTERVAL_MS: positive(5000),
  /** How often the archiver checks each target's WAL continuity (and once after start). */
  TIDEMARK_ARCHIVER_CONTINUITY_INTERVAL_MS: positive(10 * 60_000),
  /** At most one `tidemark.wal.archived` per target this often. */
  TIDEMARK_ARCHIVER_EVENT_BATCH_MS: positive(10_000),
  /** The notifier: how long one delivery attempt to a channel may take, and the first backoff between attempts. */
  TIDEMARK_NOTIFY_TIMEOUT_MS: positive(10_000),
  TIDEMARK_NOTIFY_RETRY_DELAY_MS: positive(1000),
});
export type Environment = z.output<typeof environmentSchema>;

export interface EnvironmentIssue {
  variable: string;
  message: string;
}

/** Every bad variable at once; the message has one `<VARIABLE>: <problem>` line per variable. */
export class EnvironmentError extends Error {
  constructor(readonly issues: readonly EnvironmentIssue[]) {
    super(issues.map(({ variable, message }) => `${variable}: ${message}`).join('\n'));
    this.name = 'EnvironmentError';
  }
}

/** The typed environment; throws one EnvironmentError naming each bad variable. Other variables are ignored. */
export function parseEnvironment(env: RawEnvironment): Environment {
  const result = environmentSchema.safeParse(env);
  if (result.success) return result.data;
  throw new EnvironmentError(
    result.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? ''), message: issue.message })),
  );
}

let loaded: Environment | undefined;

/** Parses process.env (or `env`) and keeps it for {@link environment}: what a service does first at start. */
export function loadEnvironment(env: RawEnvironment = process.env): Environment {
  loaded = parseEnvironment(env);
  return loaded;
}

/** The environment read at start (read now if nothing has yet). */
export function environment(): Environment {
  return loaded ?? loadEnvironment();
}

/** For functions that take an environment (tests pass their own): that one parsed, else the one read at start. */
export function environmentOf(env?: RawEnvironment): Environment {
  return env === undefined || env === process.env ? environment() : parseEnvironment(env);
}
