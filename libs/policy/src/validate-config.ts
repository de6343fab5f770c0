import { ConfigError, type ConfigIssue } from './config-error';
import { configSchemaFor, type TargetKindRules, type TidemarkConfig } from './config.schema';
import { declaredTargets, isRecord, targetUrlPath } from './declared-targets';
import { notificationReferenceIssues, type ChannelKindRules } from './notifications.schema';
import { plainMessage } from './plain-message';

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
  /** The notification channel kinds (libs/notification-channels); without them any `type` is taken. */
  channelKinds?: readonly ChannelKindRules[];
  /** The CloudEvent types a notification route may match (libs/events); without them any is taken. */
  eventTypes?: readonly string[];
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
  const result = configSchemaFor(checks.kinds, {
    ...(checks.channelKinds ? { channelKinds: checks.channelKinds } : {}),
    ...(checks.eventTypes ? { eventTypes: checks.eventTypes } : {}),
  }).safeParse(raw, { error: plainMessage });
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
  issues.push(
    ...crossReferenceIssues(raw),
    ...literalUrlIssues(raw, checks),
    ...notificationReferenceIssues(raw),
  );
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
