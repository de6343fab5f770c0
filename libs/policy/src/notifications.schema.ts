import { z } from 'zod';
import { durationSchema } from './duration';
import type { ConfigIssue } from './config-error';
import { isRecord } from './declared-targets';
import { envRefs, malformedEnvRefs } from './env-refs';
import { plainMessage } from './plain-message';

/**
 * What the config file format needs to know about one notification channel kind. This lib names no kind:
 * libs/config passes the registry's descriptors (libs/notification-channels), which declare each kind once.
 */
export interface ChannelKindRules {
  /** The channel's `type:`. */
  name: string;
  /** The kind's keys beside `type`, as written in the file (`${VAR}` references unresolved). */
  settings: z.ZodObject;
  /**
   * Keys whose value is a secret (a webhook URL, a routing key, an SMTP URL with its password): the file must
   * refer to the environment for them (`${NAME}`), never hold them.
   */
  secrets: readonly string[];
}

/** What the `notifications:` block is checked against beyond its shape; libs/config supplies both. */
export interface NotificationRules {
  /** The channel kinds; without them any `type` is taken with any keys (this lib's own tests). */
  channelKinds?: readonly ChannelKindRules[];
  /** The CloudEvent types a route may match; without them any type is taken. */
  eventTypes?: readonly string[];
}

export const NOTIFICATION_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type NotificationSeverity = (typeof NOTIFICATION_SEVERITIES)[number];

export const DIGEST_PERIODS = ['daily', 'weekly'] as const;
export type DigestPeriod = (typeof DIGEST_PERIODS)[number];

const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** `notifications.channels.<name>` as a path prefix, the way validateConfig's messages write it. */
export function channelPath(name: string, key?: string): string {
  const base = /^[A-Za-z_][\w-]*$/.test(name)
    ? `notifications.channels.${name}`
    : `notifications.channels[${JSON.stringify(name)}]`;
  return key === undefined ? base : `${base}.${key}`;
}

/** One channel as configured: its kind and that kind's keys, `${VAR}`s unresolved. */
export type NotificationChannelConfig = { type: string } & Readonly<Record<string, unknown>>;

function channelSchemaFor(kinds: readonly ChannelKindRules[]) {
  const names = kinds.map((kind) => kind.name);
  return z
    .looseObject({
      type: names.length > 0 ? z.enum(names as [string, ...string[]]) : z.string().min(1),
    })
    .transform((channel, ctx): NotificationChannelConfig => {
      const { type, ...settings } = channel;
      const kind = kinds.find((candidate) => candidate.name === type);
      if (kind === undefined) return channel;
      const parsed = kind.settings.strict().safeParse(settings, { error: plainMessage });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          if (issue.code === 'unrecognized_keys') {
            const known = ['type', ...Object.keys(kind.settings.shape)].join(', ');
            for (const key of issue.keys) {
              ctx.addIssue({
                code: 'custom',
                path: [key],
                message: `unknown key "${key}" (a channel of type ${type} has ${known})`,
              });
            }
          } else {
            ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
          }
        }
        return z.NEVER;
      }
      for (const key of kind.secrets) secretProblems(parsed.data[key], key, ctx);
      return { type, ...parsed.data };
    });
}

/**
 * A secret must be written as `${NAME}` references (it may sit inside a longer value, e.g. a URL whose path is
 * the secret). The one place this rule lives; the message never repeats the value.
 */
function secretProblems(value: unknown, key: string, ctx: z.core.$RefinementCtx): void {
  if (typeof value !== 'string') return;
  const malformed = malformedEnvRefs(value);
  if (malformed.length > 0) {
    ctx.addIssue({
      code: 'custom',
      path: [key],
      message: `holds a malformed environment variable reference (write \${NAME} with A-Z, 0-9 and _)`,
    });
  } else if (envRefs(value).length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: [key],
      message:
        'is a secret: write it as a ${NAME} reference and set NAME in the environment, not in the file',
    });
  }
}

function routeSchemaFor(eventTypes: readonly string[] | undefined) {
  const known = eventTypes?.join(', ');
  const typeSchema =
    eventTypes === undefined
      ? z.string().min(1)
      : z.string().refine((type) => eventTypes.includes(type), {
          error: (issue) => `unknown event type "${String(issue.input)}" (known: ${known ?? ''})`,
        });
  return z.strictObject({
    match: z
      .strictObject({
        severity: z.array(z.enum(NOTIFICATION_SEVERITIES)).min(1).optional(),
        targets: z.array(z.string().min(1)).min(1).optional(),
        types: z.array(typeSchema).min(1).optional(),
      })
      .prefault({}),
    channels: z.array(z.string().min(1)).min(1, { error: 'name at least one channel' }),
    digest: z.enum(DIGEST_PERIODS).optional(),
    repeatAfter: durationSchema.optional(),
  });
}

const DIGEST_TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** The `notifications:` block for the given channel kinds and event types. */
export function notificationsSchemaFor(rules: NotificationRules = {}) {
  return z.strictObject({
    channels: z
      .record(z.string(), channelSchemaFor(rules.channelKinds ?? []))
      .superRefine((channels, ctx) => {
        for (const name of Object.keys(channels)) {
          if (CHANNEL_NAME.test(name)) continue;
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message:
              'is not a valid channel name (1-63 letters, digits, _ and -, starting with a letter or digit)',
          });
        }
      }),
    routes: z.array(routeSchemaFor(rules.eventTypes)).default([]),
    /** How long the same condition stays quiet after it was raised, unless a route says otherwise. */
    repeatAfter: durationSchema.default('4h'),
    dashboardUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    /** When digests go out, HH:MM in UTC. */
    digestTime: z
      .string()
      .regex(DIGEST_TIME, { error: 'must be a time of day as HH:MM (24-hour, UTC)' })
      .default('08:00'),
  });
}

export type NotificationsConfig = z.infer<ReturnType<typeof notificationsSchemaFor>>;
export type NotificationRoute = NotificationsConfig['routes'][number];

/**
 * Routes naming a channel or a target that is not declared; read from the raw input so they are reported with
 * any shape errors elsewhere in the file.
 */
export function notificationReferenceIssues(raw: unknown): ConfigIssue[] {
  if (!isRecord(raw) || !isRecord(raw['notifications'])) return [];
  const { channels, routes } = raw['notifications'];
  if (!Array.isArray(routes)) return [];
  const channelNames = isRecord(channels) ? Object.keys(channels) : [];
  const targetIds = Array.isArray(raw['targets'])
    ? raw['targets'].flatMap((target: unknown) =>
        isRecord(target) && typeof target['id'] === 'string' ? [target['id']] : [],
      )
    : [];
  return routes.flatMap((route: unknown, index) => {
    if (!isRecord(route)) return [];
    const at = `notifications.routes[${index}]`;
    const match = isRecord(route['match']) ? route['match'] : {};
    return [
      ...unknownNames(route['channels'], channelNames, `${at}.channels`, 'channel'),
      ...unknownNames(match['targets'], targetIds, `${at}.match.targets`, 'target'),
    ];
  });
}

function unknownNames(names: unknown, known: readonly string[], path: string, what: string): ConfigIssue[] {
  if (!Array.isArray(names)) return [];
  const list = known.length > 0 ? known.join(', ') : 'none';
  return names.flatMap((name: unknown, index) =>
    typeof name === 'string' && !known.includes(name)
      ? [{ path: `${path}[${index}]`, message: `unknown ${what} "${name}" (known: ${list})` }]
      : [],
  );
}
