import { SourceError } from '@tidemark/source-contract';
import type { PostgresSettings } from './settings';

/**
 * The target's exclude patterns, as pg_dump arguments and as the SQL condition that picks the same tables, so the
 * row counts recorded beside the dump leave out exactly what pg_dump left out.
 */
export interface Exclusion {
  args: string[];
  /** A boolean SQL expression over `pg_class c` and `pg_namespace n`, true for an excluded table; `false` for none. */
  sql: string;
  /** Values for `$1..$n` in `sql`. */
  params: string[];
}

export const NO_EXCLUSION: Exclusion = { args: [], sql: 'false', params: [] };

interface SplitPattern {
  /** Anchored regular expressions, last part (the object name) last. */
  parts: string[];
  /** The first part as written (quotes removed, unquoted letters folded), for the database-name check. */
  literalFirst: string;
  dots: number;
}

const ANY = '^(.*)$';

/**
 * PostgreSQL's patternToSQLRegex (fe_utils/string_utils.c), which pg_dump uses for -t/-T/-n/-N: unquoted letters
 * fold to lower case, `*` and `?` are wildcards, `.` separates up to `maxParts` parts (further dots stay literal but
 * are counted), `$` is literal, other regex characters are literal only inside double quotes.
 */
export function splitPattern(pattern: string, maxParts: number): SplitPattern {
  const parts: string[] = [];
  let current = '^(';
  let literalFirst = '';
  let left = true;
  let inQuotes = false;
  let dots = 0;
  const append = (regex: string, literal: string): void => {
    current += regex;
    if (left) literalFirst += literal;
  };
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (ch === '"') {
      if (inQuotes && chars[i + 1] === '"') {
        append('"', '"');
        i++;
      } else inQuotes = !inQuotes;
    } else if (!inQuotes && ch >= 'A' && ch <= 'Z') {
      append(ch.toLowerCase(), ch.toLowerCase());
    } else if (!inQuotes && ch === '*') {
      append('.*', '*');
    } else if (!inQuotes && ch === '?') {
      append('.', '?');
    } else if (!inQuotes && ch === '.') {
      left = false;
      dots++;
      if (parts.length + 1 < maxParts) {
        parts.push(`${current})$`);
        current = '^(';
      } else append('.', '.');
    } else if (ch === '$') {
      append('\\$', '$');
    } else {
      let escape = '';
      if (inQuotes && '|*+?()[]{}.^$\\'.includes(ch)) escape = '\\';
      else if (ch === '[' && chars[i + 1] === ']') escape = '\\';
      append(escape + ch, ch);
    }
  }
  parts.push(`${current})$`);
  return { parts, literalFirst, dots };
}

/** The exclusion for `settings`, checked the way pg_dump checks it when dumping `database`. */
export function buildExclusion(
  settings: PostgresSettings,
  database: string,
  serverVersionNum: number,
): Exclusion {
  const tables = settings.excludeTables ?? [];
  const schemas = settings.excludeSchemas ?? [];
  if (tables.length === 0 && schemas.length === 0) return NO_EXCLUSION;
  const params: string[] = [];
  // pg_dump matches with the database's default collation (which decides what e.g. \w matches), not the catalog's "C".
  const collate = serverVersionNum >= 120000 ? ' COLLATE pg_catalog.default' : '';
  const match = (column: string, regex: string): string => {
    params.push(regex);
    return `${column} OPERATOR(pg_catalog.~) $${params.length}${collate}`;
  };
  const conditions: string[] = [];
  for (const pattern of schemas) {
    const { parts, dots } = splitPattern(pattern, 1);
    // A schema pattern has no database part: any dot is a cross-database reference to pg_dump.
    if (dots > 1)
      throw invalidPattern('--exclude-schema', pattern, 'improper qualified name (too many dotted names)');
    if (dots === 1)
      throw invalidPattern('--exclude-schema', pattern, 'cross-database references are not implemented');
    const name = parts[0] ?? ANY;
    conditions.push(name === ANY ? 'true' : match('n.nspname', name));
  }
  for (const pattern of tables) {
    const { parts, literalFirst, dots } = splitPattern(pattern, 3);
    if (dots > 2)
      throw invalidPattern('--exclude-table', pattern, 'improper relation name (too many dotted names)');
    if (dots === 2 && literalFirst !== database)
      throw invalidPattern('--exclude-table', pattern, 'cross-database references are not implemented');
    const name = parts[parts.length - 1] ?? ANY;
    const schema = parts.length >= 2 ? parts[parts.length - 2] : undefined;
    const clauses: string[] = [];
    if (name !== ANY) clauses.push(match('c.relname', name));
    // Without a schema part only tables visible on the default search_path match (pg_dump resets search_path for this).
    if (schema === undefined) clauses.push('pg_catalog.pg_table_is_visible(c.oid)');
    else if (schema !== ANY) clauses.push(match('n.nspname', schema));
    conditions.push(clauses.length ? `(${clauses.join(' AND ')})` : 'true');
  }
  return {
    args: [
      ...schemas.map((pattern) => `--exclude-schema=${pattern}`),
      ...tables.map((pattern) => `--exclude-table=${pattern}`),
    ],
    sql: `(${conditions.join(' OR ')})`,
    params,
  };
}

function invalidPattern(option: string, pattern: string, reason: string): SourceError {
  // pg_dump would stop with the same words; saying so before it starts names the setting to fix.
  return new SourceError('invalid-settings', `${option} pattern "${pattern}": ${reason}`);
}
