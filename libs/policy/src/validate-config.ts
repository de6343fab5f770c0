import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './config-error';
import { configSchemaFor, type TargetKindRules, type TidemarkConfig } from './config.schema';
import { declaredTargets, isRecord, targetUrlPath } from './declared-targets';

/** Checks beyond the schema that need infrastructure this lib must not import, supplied by the caller. */
export interface ConfigChecks {
  /**
   * What is wrong with a target url written out in full in the file (no `${VAR}` in it), or undefined when it is
   * fine. libs/config parses it with the source kind's own parser; urls with references are parsed once resolved.
   */
  literalUrl?: (kind: string, url: string) => string | undefined;
  /**
   * The source kinds and their settings (libs/config passes the registry's). Without them any kind is taken and
   * a target may carry only the generic keys.
   */
  kinds?: readonly TargetKindRules[];
}

/**
 * Parses and checks a configuration (as read from YAML), filling in defaults.
 * Throws one ConfigError listing every problem as `<path>: <problem>`; `origin` names the root.
 */
export function validateConfig(
  raw: unknown,
  origin = 'tidemark.yaml',
  checks: ConfigChecks = {},
): TidemarkConfig {
  const result = configSchemaFor(checks.kinds).safeParse(raw, { error: plainMessage });
  const issues: ConfigIssue[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = formatPath(issue.path, origin);
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) issues.push({ path, message: `unknown key "${key}"` });
      } else if (issue.path.length === 0 && (raw === undefined || raw === null)) {
        issues.push({ path, message: 'the configuration is empty' });
      } else {
        issues.push({ path, message: issue.message });
      }
    }
  }
  issues.push(...crossReferenceIssues(raw), ...literalUrlIssues(raw, checks));
  if (!result.success || issues.length > 0) throw new ConfigError(issues);
  return result.data;
}

/** Duplicate target ids and targets naming a policy that does not exist; read from the raw input so they are
 * reported together with any shape errors elsewhere in the file. */
function crossReferenceIssues(raw: unknown): ConfigIssue[] {
  if (!isRecord(raw) || !Array.isArray(raw['targets'])) return [];
  const policies = isRecord(raw['policies']) ? Object.keys(raw['policies']) : [];
  const known = policies.length > 0 ? policies.join(', ') : 'none';
  const firstIndexById = new Map<string, number>();
  const issues: ConfigIssue[] = [];
  raw['targets'].forEach((target: unknown, index) => {
    if (!isRecord(target)) return;
    const { id, policy } = target;
    if (typeof id === 'string') {
      const first = firstIndexById.get(id);
      if (first === undefined) firstIndexById.set(id, index);
      else
        issues.push({
          path: `targets[${index}].id`,
          message: `duplicate target id "${id}" (also targets[${first}])`,
        });
    }
    if (typeof policy === 'string' && policy !== '' && !policies.includes(policy)) {
      issues.push({
        path: `targets[${index}].policy`,
        message: `unknown policy "${policy}" (known: ${known})`,
      });
    }
  });
  return issues;
}

function literalUrlIssues(raw: unknown, checks: ConfigChecks): ConfigIssue[] {
  const check = checks.literalUrl;
  if (check === undefined) return [];
  const kinds = checks.kinds?.map((kind) => kind.name);
  return declaredTargets(raw, kinds).flatMap((target) => {
    // A url with references (or a malformed one, which the schema reports) is checked where it is resolved.
    if (target.url.includes('${')) return [];
    const message = check(target.kind, target.url);
    return message === undefined ? [] : [{ path: targetUrlPath(target), message }];
  });
}

/** Zod's defaults ("Invalid input: expected string, received number") rewritten for people editing YAML. */
const plainMessage: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `must be ${TYPE_WORDS[issue.expected] ?? `a ${issue.expected}`} (got ${describe(issue.input)})`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return boundMessage('at least', 'greater than', issue.origin, issue.minimum, issue.inclusive);
    case 'too_big':
      return boundMessage('at most', 'less than', issue.origin, issue.maximum, issue.inclusive);
    default:
      return undefined;
  }
};

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

function boundMessage(
  inclusiveWord: string,
  exclusiveWord: string,
  origin: string,
  bound: number | bigint | Date,
  inclusive: boolean | undefined,
): string {
  const limit = String(bound);
  if (origin === 'string' && limit === '1' && inclusiveWord === 'at least') return 'must not be empty';
  const unit = origin === 'array' ? ' items' : origin === 'string' ? ' characters' : '';
  return `must be ${inclusive === false ? exclusiveWord : inclusiveWord} ${limit}${unit}`;
}

function describe(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return typeof value;
}

/** `['targets', 2, 'id']` → `targets[2].id`; keys that are not plain words are quoted. */
function formatPath(segments: readonly PropertyKey[], origin: string): string {
  if (segments.length === 0) return origin;
  return segments
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      const key = String(segment);
      if (!/^[A-Za-z_][\w-]*$/.test(key)) return `[${JSON.stringify(key)}]`;
      return index === 0 ? key : `.${key}`;
    })
    .join('');
}
