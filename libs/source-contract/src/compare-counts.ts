import type { Check, TableCount } from '@tidemark/manifest';

const tableKey = (t: { schema: string; name: string }): string => JSON.stringify([t.schema, t.name]);
// Sources without schemas (MySQL: the database is the namespace) name tables alone.
const tableLabel = (t: { schema: string; name: string }): string =>
  t.schema ? `${t.schema}.${t.name}` : t.name;

/** One `tables` check for the set of tables, one `rows <schema>.<table>` check per expected table. */
export function compareCounts(expected: TableCount[], actual: TableCount[]): Check[] {
  const actualByKey = new Map(actual.map((t) => [tableKey(t), t]));
  const expectedKeys = new Set(expected.map(tableKey));
  const missing = expected.filter((t) => !actualByKey.has(tableKey(t))).map(tableLabel);
  const unexpected = actual.filter((t) => !expectedKeys.has(tableKey(t))).map(tableLabel);
  const list = (names: string[]): string =>
    names.length > 10 ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more` : names.join(', ');
  const problems = [
    ...(missing.length ? [`missing ${list(missing)}`] : []),
    ...(unexpected.length ? [`unexpected ${list(unexpected)}`] : []),
  ];
  const checks: Check[] = [
    {
      name: 'tables',
      ok: problems.length === 0,
      expected: expected.length,
      actual: actual.length,
      ...(problems.length ? { detail: problems.join('; ') } : {}),
    },
  ];
  for (const table of expected) {
    const found = actualByKey.get(tableKey(table));
    checks.push(
      found
        ? {
            name: `rows ${tableLabel(table)}`,
            ok: found.rows === table.rows,
            expected: table.rows,
            actual: found.rows,
          }
        : {
            name: `rows ${tableLabel(table)}`,
            ok: false,
            expected: table.rows,
            detail: 'table missing after restore',
          },
    );
  }
  return checks;
}
