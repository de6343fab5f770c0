import { z } from 'zod';

const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const UNIT_MS = [86_400_000, 3_600_000, 60_000, 1000] as const;

/**
 * Milliseconds of a duration such as `4h`, `90m`, `26h`, `1d12h` or `30s` (days, hours, minutes, seconds in that
 * order); undefined when it is not one (or zero). The config's one duration syntax: notifications and drills.
 */
export function durationMs(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match || text === '') return undefined;
  const ms = UNIT_MS.reduce((sum, unit, index) => sum + Number(match[index + 1] ?? 0) * unit, 0);
  return ms > 0 ? ms : undefined;
}

export const durationSchema = z.string().refine((text) => durationMs(text) !== undefined, {
  error: (issue) =>
    `"${String(issue.input)}" is not a duration (write e.g. 30m, 4h, 1d or 1d12h: days d, hours h, minutes m, seconds s)`,
});
