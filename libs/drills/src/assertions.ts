import { errorData } from '@tidemark/events';
import { durationMs, type DrillAssertion } from '@tidemark/policy';
import type { DrillCheck } from './drill-report';
import type { DrillCopy } from './scratch-copy';

// A statement's "true" as the servers return it: a boolean (PostgreSQL), 1 (MySQL), or their text forms.
const TRUE_VALUES = new Set<unknown>([true, 1, '1', 't', 'true', 1n]);

/** Each assertion of the policy against the restored copy, in order; one that cannot run fails with why. */
export async function runAssertions(
  assertions: readonly DrillAssertion[],
  copy: DrillCopy,
  backupTakenAt: Date,
): Promise<DrillCheck[]> {
  const results: DrillCheck[] = [];
  for (const assertion of assertions) {
    results.push(
      'file' in assertion
        ? await fileAssertion(assertion.file, copy)
        : await sqlAssertion(assertion, copy, backupTakenAt),
    );
  }
  return results;
}

async function fileAssertion(path: string, copy: DrillCopy): Promise<DrillCheck> {
  const name = `file ${path}`;
  if (!copy.fileSize) return { name, ok: false, detail: 'file assertions apply to directory targets only' };
  const size = await copy.fileSize(path);
  return {
    name,
    ok: size !== null && size > 0,
    expected: 'exists, not empty',
    actual: size === null ? 'missing' : `${size} bytes`,
  };
}

async function sqlAssertion(
  assertion: Extract<DrillAssertion, { sql: string }>,
  copy: DrillCopy,
  backupTakenAt: Date,
): Promise<DrillCheck> {
  const name = `sql ${assertion.sql}`;
  if (!copy.query) return { name, ok: false, detail: 'sql assertions apply to database targets only' };
  let value: unknown;
  try {
    value = await copy.query(assertion.sql);
  } catch (error) {
    return { name, ok: false, detail: errorData(error).message };
  }
  if (!assertion.expect) return { name, ok: TRUE_VALUES.has(value), expected: 'true', actual: shown(value) };
  const { within } = assertion.expect;
  const expected = `within ${within} of the backup (${backupTakenAt.toISOString()})`;
  const at = asTime(value);
  if (!at) return { name, ok: false, expected, actual: shown(value), detail: 'not a time' };
  const offMs = Math.abs(backupTakenAt.getTime() - at.getTime());
  // The schema admitted `within` as a duration; a value it could not read never passes.
  const withinMs = durationMs(within);
  return {
    name,
    ok: withinMs !== undefined && offMs <= withinMs,
    expected,
    actual: `${at.toISOString()} (${Math.round(offMs / 60_000)} min from the backup)`,
  };
}

function asTime(value: unknown): Date | null {
  const at = value instanceof Date ? value : typeof value === 'string' ? new Date(value) : null;
  return at && !Number.isNaN(at.getTime()) ? at : null;
}

/** A value as the report shows it (a statement's one value, never a row set). */
function shown(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return value.toString();
  return JSON.stringify(value);
}
