import { ACCESS_TIERS, COMPRESSIONS, TARGET_ID_PATTERN } from '@tidemark/manifest';
import { z } from 'zod';
import { apiSchema } from './api.schema';
import { drillsSchema, scratchSchema } from './drills.schema';
import { encryptionSchema } from './encryption.schema';
import { malformedEnvRefs } from './env-refs';
import { notificationsSchemaFor, type NotificationRules } from './notifications.schema';
import { cronProblem, invalidCronMessage, isKnownTimeZone, unknownTimeZoneMessage } from './schedule';

/**
 * What the config file format needs to know about one source kind. This lib names no kind: libs/config passes
 * the registry's descriptors (libs/source-kinds), which declare each kind's settings once.
 */
export interface TargetKindRules {
  /** The target's `kind:`. */
  name: string;
  /** The kind's own optional target keys beside id, kind, url and policy. Kinds sharing a key share its schema. */
  settings: z.ZodObject;
  /** Its backups form chains, so the target may set `incremental`. */
  chains: boolean;
  /** Cross-field checks of one of its targets, each problem at the key at fault (`path`: a target key, dotted into it). */
  readonly refine?: (
    target: Readonly<Record<string, unknown>>,
  ) => readonly { path: string; message: string }[];
}

// Archive blobs must be rehydrated before they can be read, so a fresh backup could not be verified there.
export const INITIAL_TIERS = ['Hot', 'Cool', 'Cold'] as const;

// Azure: 3-63 characters, lowercase letters, digits and hyphens; a hyphen sits between two letters or digits.
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

/** A section that may be left out; `null` (a YAML key whose contents are all commented out) counts as left out. */
function section<T extends z.ZodType>(schema: T): z.ZodPreprocess<T, z.input<T> | null> {
  return z.preprocess((value: z.input<T> | null) => value ?? undefined, schema);
}

const count = z.number().int().min(0);
const days = z.number().int().min(1);

export const IMMUTABILITY_MODES = ['unlocked', 'locked'] as const;

/**
 * Version-level WORM on every committed artifact and manifest: `unlocked` can still be shortened or removed by
 * whoever holds the account key (a safety net while trying it out), `locked` only ever extended.
 */
const immutabilitySchema = z.strictObject({
  mode: z.enum(IMMUTABILITY_MODES),
  days,
});

const storageSchema = z.strictObject({
  immutability: immutabilitySchema.optional(),
  container: z
    .string()
    .regex(CONTAINER_NAME, {
      error: (issue) =>
        `"${String(issue.input)}" is not a valid container name (3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit)`,
    })
    .default('tidemark-backups'),
});

const localSchema = z.strictObject({
  path: z.string().min(1).default('./.tidemark/backups'),
  minFreeBytes: count.default(268435456),
});

const retentionSchema = z.strictObject({
  local: section(z.strictObject({ days: count.default(7) }).prefault({})),
  remote: section(
    z
      .strictObject({
        keepLast: count.default(7),
        daily: count.default(7),
        weekly: count.default(4),
        monthly: count.default(12),
        yearly: count.default(3),
        // At least one backup always survives, whatever the other rules say.
        minKeep: z.number().int().min(1).default(1),
        // Failed and corrupt backups stay this long so someone can look at them before they go.
        failedGraceDays: count.default(7),
      })
      .prefault({}),
  ),
});

// ACCESS_TIERS runs from warmest to coldest, so a move must go to a higher index than the initial tier.
const TIER_MOVES = [
  ['coolAfterDays', 'Cool'],
  ['coldAfterDays', 'Cold'],
  ['archiveAfterDays', 'Archive'],
] as const;

const tieringSchema = z
  .strictObject({
    initial: z
      .enum(INITIAL_TIERS, {
        error: (issue) =>
          issue.input === 'Archive'
            ? 'Archive cannot be the initial tier (archived blobs cannot be read until rehydrated, so they cannot be verified)'
            : undefined,
      })
      .default('Cool'),
    coolAfterDays: days.optional(),
    coldAfterDays: days.optional(),
    archiveAfterDays: days.optional(),
  })
  .superRefine((tiering, ctx) => {
    let previous: { key: string; days: number } | undefined;
    for (const [key, tier] of TIER_MOVES) {
      const after = tiering[key];
      if (after === undefined) continue;
      if (ACCESS_TIERS.indexOf(tier) <= ACCESS_TIERS.indexOf(tiering.initial)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `moves blobs to ${tier}, which is not cooler than the initial tier ${tiering.initial}`,
        });
      } else if (previous !== undefined && after <= previous.days) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `must be greater than ${previous.key} (${previous.days}), since colder tiers come later`,
        });
      }
      previous = { key, days: after };
    }
  });

const scheduleSchema = z.string().superRefine((schedule, ctx) => {
  const problem = cronProblem(schedule);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: invalidCronMessage(schedule, problem) });
});

const timezoneSchema = z.string().superRefine((timezone, ctx) => {
  if (!isKnownTimeZone(timezone)) ctx.addIssue({ code: 'custom', message: unknownTimeZoneMessage(timezone) });
});

const policySchema = z.strictObject({
  schedule: scheduleSchema,
  timezone: timezoneSchema.default('UTC'),
  rpoHours: z.number().positive().default(25),
  compression: z.enum(COMPRESSIONS).default('zstd'),
  retention: section(retentionSchema.prefault({})),
  tiering: section(tieringSchema.prefault({})),
  verify: section(
    z
      .strictObject({ restoreTest: z.boolean().default(true), scratch: scratchSchema.optional() })
      .prefault({}),
  ),
  /** Scheduled restore drills (libs/drills); left out, none are scheduled. */
  drills: drillsSchema.optional(),
  /** Client-side age encryption of every artifact; left out, artifacts are stored as compressed. */
  encryption: encryptionSchema.optional(),
  // Overrides storage.immutability for this policy's backups.
  immutability: immutabilitySchema.optional(),
});

const envRefString = z
  .string()
  .min(1)
  .superRefine((url, ctx) => {
    for (const ref of malformedEnvRefs(url)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${ref}" is not a valid environment variable reference (write \${NAME} with A-Z, 0-9 and _)`,
      });
    }
  });

/** A chain is one full followed by `fullEvery - 1` incrementals. */
const incrementalSchema = z.strictObject({ fullEvery: z.number().int().min(1).max(1000) });

function targetSchemaFor(kinds: readonly TargetKindRules[]) {
  const names = kinds.map((kind) => kind.name);
  // Which optional target keys each kind understands; any other is an error naming the kinds that accept it.
  const kindKeys = new Map<string, string[]>();
  const settings: Record<string, z.ZodType> = {};
  for (const kind of kinds) {
    for (const [key, schema] of Object.entries(kind.settings.shape)) {
      settings[key] ??= schema;
      kindKeys.set(key, [...(kindKeys.get(key) ?? []), kind.name]);
    }
  }
  kindKeys.set(
    'incremental',
    kinds.filter((kind) => kind.chains).map((kind) => kind.name),
  );
  return z
    .strictObject({
      id: z.string().regex(TARGET_ID_PATTERN, {
        error: (issue) =>
          `"${String(issue.input)}" is not a valid target id (1-63 lowercase letters, digits and hyphens)`,
      }),
      // Without the kinds (this lib's own tests), any kind is taken and only the generic keys are known.
      kind: names.length > 0 ? z.enum(names as [string, ...string[]]) : z.string().min(1),
      // Kept unresolved: secrets are read from the environment only where they are used. A server URL for
      // databases, a path for file-based kinds, a container URL (or connection string) for a blob container.
      url: envRefString,
      policy: z.string().min(1),
      ...settings,
      incremental: incrementalSchema.optional(),
    })
    .superRefine((target, ctx) => {
      const fields = target as Record<string, unknown>;
      for (const [key, accepting] of kindKeys) {
        if (fields[key] === undefined) continue;
        if (accepting.includes(target.kind)) continue;
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `only applies to kind ${accepting.join(' or ')}, not ${target.kind}`,
        });
      }
      const refine = kinds.find((kind) => kind.name === target.kind)?.refine;
      for (const problem of refine?.(fields) ?? []) {
        ctx.addIssue({ code: 'custom', path: problem.path.split('.'), message: problem.message });
      }
    });
}

/**
 * The shape of tidemark.yaml for the given kinds. Cross-references (policy names, unique ids) are checked by
 * `validateConfig`.
 */
export function configSchemaFor(
  kinds: readonly TargetKindRules[] = [],
  notificationRules: NotificationRules = {},
) {
  return z.strictObject({
    storage: section(storageSchema.prefault({})),
    local: section(localSchema.prefault({})),
    policies: z.record(z.string(), policySchema),
    targets: z.array(targetSchemaFor(kinds)).min(1, { error: 'at least one target is required' }),
    api: section(apiSchema.prefault({})),
    /** Who is told what (the notifier service and `tidemark notify`); left out, nobody is. */
    notifications: section(notificationsSchemaFor(notificationRules).optional()),
  });
}

/** One target: the generic keys, and its kind's own settings (as its kind's descriptor declares them). */
export type Target = {
  id: string;
  kind: string;
  url: string;
  policy: string;
  incremental?: z.infer<typeof incrementalSchema> | undefined;
} & Readonly<Record<string, unknown>>;

export type TidemarkConfig = Omit<z.infer<ReturnType<typeof configSchemaFor>>, 'targets'> & {
  targets: Target[];
};
export type Policy = z.infer<typeof policySchema>;
export type RetentionPolicy = z.infer<typeof retentionSchema>;
export type TieringPolicy = z.infer<typeof tieringSchema>;
export type ImmutabilitySettings = z.infer<typeof immutabilitySchema>;
export type ImmutabilityMode = (typeof IMMUTABILITY_MODES)[number];
