import { z } from 'zod';
import { durationSchema } from './duration';
import { isWholeEnvRef } from './encryption.schema';
import { cronProblem, invalidCronMessage } from './schedule';

/**
 * Where restore tests and drills put their scratch copies instead of the target's own server: `url` for server
 * kinds (a `${VAR}` reference, so the scratch server's credentials stay out of the file), `path` for file-based
 * kinds (a directory scratch copies are made under). A policy shared by both kinds may set both.
 */
export const scratchSchema = z
  .strictObject({
    url: z
      .string()
      .refine(isWholeEnvRef, {
        error: 'must be a ${NAME} reference (the scratch server’s credentials stay in the environment)',
      })
      .optional(),
    path: z.string().min(1).optional(),
  })
  .refine((scratch) => scratch.url !== undefined || scratch.path !== undefined, {
    error: 'needs url (a scratch server) or path (a scratch directory)',
  });

export const DRILL_PICKS = ['newest', 'oldest', 'random'] as const;
export type DrillPick = (typeof DRILL_PICKS)[number];

/**
 * A statement run on the restored copy. Without `expect` its one value must be true; with it the value is a time
 * that must lie `within` the given duration before the backup was taken.
 */
const sqlAssertionSchema = z.strictObject({
  sql: z.string().min(1),
  expect: z.strictObject({ within: durationSchema, of: z.literal('backup') }).optional(),
});

/** Directory targets: the path (relative to the restored root) must exist and not be empty. */
const fileAssertionSchema = z.strictObject({
  file: z
    .string()
    .min(1)
    .refine((path) => !path.startsWith('/') && !path.split('/').includes('..'), {
      error: 'must be a path inside the restored directory (relative, no "..")',
    }),
});

export const drillAssertionSchema = z.union([sqlAssertionSchema, fileAssertionSchema], {
  error: 'each assertion is { sql: "…" } (optionally with expect) or { file: "…" }',
});

const drillScheduleSchema = z.string().superRefine((schedule, ctx) => {
  const problem = cronProblem(schedule);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: invalidCronMessage(schedule, problem) });
});

/** Scheduled restore drills of a policy's targets (in the policy's time zone). */
export const drillsSchema = z.strictObject({
  schedule: drillScheduleSchema,
  pick: z
    .array(z.enum(DRILL_PICKS))
    .min(1)
    .default(['newest'])
    .refine((picks) => new Set(picks).size === picks.length, { error: 'lists a pick twice' }),
  rtoMinutes: z.number().positive().default(60),
  assertions: z.array(drillAssertionSchema).default([]),
});

export type ScratchPolicy = z.infer<typeof scratchSchema>;
export type DrillsPolicy = z.infer<typeof drillsSchema>;
export type DrillAssertion = z.infer<typeof drillAssertionSchema>;
export type SqlAssertion = z.infer<typeof sqlAssertionSchema>;
