import { CronExpressionParser } from 'cron-parser';
import { ConfigError } from './config-error';

const CRON_FIELDS = ['minute', 'hour', 'day of month', 'month', 'day of week'] as const;
const RANGE_ERROR = /^Constraint error, got value \S+ expected range (\d+-\d+)$/;

/** Why `schedule` is not a usable 5-field cron expression, or undefined when it is. */
export function cronProblem(schedule: string): string | undefined {
  const fields = schedule
    .trim()
    .split(/\s+/)
    .filter((field) => field !== '');
  if (fields.length !== CRON_FIELDS.length) {
    return `expected 5 fields, got ${fields.length}`;
  }
  // cron-parser does not say which field it rejected, so each field is tried alone first.
  for (const [index, name] of CRON_FIELDS.entries()) {
    const probe = CRON_FIELDS.map((_, other) => (other === index ? fields[index] : '*')).join(' ');
    const reason = parseProblem(probe);
    if (reason !== undefined) {
      const range = RANGE_ERROR.exec(reason);
      return range ? `${name} must be ${range[1] ?? ''}` : `${name}: ${lowerFirst(reason)}`;
    }
  }
  // Combinations that never occur (e.g. 31 April) only show up in the whole expression.
  const reason = parseProblem(fields.join(' '));
  return reason === undefined ? undefined : lowerFirst(reason);
}

export function invalidCronMessage(schedule: string, problem: string): string {
  return `"${schedule}" is not a valid cron expression (${problem})`;
}

/** Whether `Intl` knows the time zone; cron-parser relies on the same data. */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

export function unknownTimeZoneMessage(timeZone: string): string {
  return `"${timeZone}" is not a known IANA time zone`;
}

/** The first time strictly after `from` at which `schedule` fires, read as wall-clock time in `timezone`. */
export function nextRun(schedule: string, timezone: string, from: Date): Date {
  const [run] = nextRuns(schedule, timezone, from, 1);
  if (run === undefined) {
    throw new ConfigError([{ path: '', message: `"${schedule}" never fires` }]);
  }
  return run;
}

/**
 * The next `count` firings strictly after `from`. Across DST changes a wall-clock time skipped in spring fires
 * once an hour later, and one repeated in autumn fires once (cron-parser's behaviour, which suits daily backups).
 */
export function nextRuns(schedule: string, timezone: string, from: Date, count: number): Date[] {
  const problem = cronProblem(schedule);
  if (problem !== undefined) {
    throw new ConfigError([{ path: '', message: invalidCronMessage(schedule, problem) }]);
  }
  if (!isKnownTimeZone(timezone)) {
    throw new ConfigError([{ path: '', message: unknownTimeZoneMessage(timezone) }]);
  }
  const expression = CronExpressionParser.parse(schedule, { tz: timezone, currentDate: from });
  return Array.from({ length: count }, () => expression.next().toDate());
}

function parseProblem(expression: string): string | undefined {
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC' }).next();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
