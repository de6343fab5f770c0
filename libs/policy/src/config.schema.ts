import { ACCESS_TIERS, COMPRESSIONS } from '@tidemark/manifest';
import { z } from 'zod';
import { malformedEnvRefs } from './env-refs';
import { cronProblem, invalidCronMessage, isKnownTimeZone, unknownTimeZoneMessage } from './schedule';

export const TARGET_KINDS = ['postgres'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

// Archive blobs must be rehydrated before they can be read, so a fresh backup could not be verified there.
export const INITIAL_TIERS = ['Hot', 'Cool', 'Cold'] as const;

// Azure: 3-63 characters, lowercase letters, digits and hyphens; a hyphen sits between two letters or digits.
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const TARGET_ID = /^[a-z0-9-]{1,63}$/;

/** A section that may be left out; `null` (a YAML key whose contents are all commented out) counts as left out. */
function section<T extends z.ZodType>(schema: T): z.ZodPreprocess<T, z.input<T> | null> {
  return z.preprocess((value: z.input<T> | null) => value ?? undefined, schema);
}

const count = z.number().int().min(0);
const days = z.number().int().min(1);

const storageSchema = z.strictObject({
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
  verify: section(z.strictObject({ restoreTest: z.boolean().default(true) }).prefault({})),
});

const targetSchema = z.strictObject({
  id: z.string().regex(TARGET_ID, {
    error: (issue) =>
      `"${String(issue.input)}" is not a valid target id (1-63 lowercase letters, digits and hyphens)`,
  }),
  kind: z.enum(TARGET_KINDS),
  // Kept unresolved: secrets are read from the environment only where they are used.
  url: z
    .string()
    .min(1)
    .superRefine((url, ctx) => {
      for (const ref of malformedEnvRefs(url)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${ref}" is not a valid environment variable reference (write \${NAME} with A-Z, 0-9 and _)`,
        });
      }
    }),
  policy: z.string().min(1),
});

/** The shape of tidemark.yaml. Cross-references (policy names, unique ids) are checked by `validateConfig`. */
export const configSchema = z.strictObject({
  storage: section(storageSchema.prefault({})),
  local: section(localSchema.prefault({})),
  policies: z.record(z.string(), policySchema),
  targets: z.array(targetSchema).min(1, { error: 'at least one target is required' }),
});

export type TidemarkConfig = z.infer<typeof configSchema>;
export type Policy = z.infer<typeof policySchema>;
export type Target = z.infer<typeof targetSchema>;
export type RetentionPolicy = z.infer<typeof retentionSchema>;
export type TieringPolicy = z.infer<typeof tieringSchema>;
