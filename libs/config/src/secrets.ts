import {
  ConfigError,
  envRefs,
  malformedEnvRefs,
  resolveEnvRefs,
  targetById,
  targetUrlPath,
  type ConfigIssue,
  type DeclaredTarget,
  type TidemarkConfig,
} from '@tidemark/policy';
import { resolveRecipients } from '@tidemark/encryption';
import { sourceKind, type SourceSettings } from '@tidemark/source-kinds';
import { resolvedUrlProblem } from './target-urls';

/** The target's connection url with its `${ENV}` references filled in from `env`. */
export function resolveTargetUrl(
  config: TidemarkConfig,
  targetId: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const target = targetById(config, targetId);
  const path = targetUrlPath({ index: config.targets.indexOf(target), id: target.id });
  return resolveEnvRefs(target.url, env, path);
}

/** A problem with one target's url in a given environment. */
export interface TargetEnvIssue extends ConfigIssue {
  targetId: string;
}

/**
 * Every problem the targets' urls have in `env`: each unset or empty variable, at every place it is used, and
 * for a url whose variables are all set, what is wrong with the url they make (without its value).
 */
export function targetEnvIssues(
  targets: readonly DeclaredTarget[],
  env: NodeJS.ProcessEnv = process.env,
): TargetEnvIssue[] {
  return targets.flatMap((target) => {
    // A malformed reference is a schema error of the file; resolving around it would only add noise.
    if (malformedEnvRefs(target.url).length > 0) return [];
    const path = targetUrlPath(target);
    const names = envRefs(target.url);
    const missing = names.filter((name) => !env[name]);
    if (missing.length > 0) {
      return missing.map((name) => ({
        targetId: target.id,
        path,
        message: `environment variable ${name} is not set`,
      }));
    }
    if (names.length === 0) return [];
    const problem = resolvedUrlProblem(target.kind, target.url, resolveEnvRefs(target.url, env, path));
    return problem === undefined ? [] : [{ targetId: target.id, path, message: problem }];
  });
}

/** The configured targets with their position, as `targetEnvIssues` takes them. */
export function declaredTargetsOf(config: TidemarkConfig): DeclaredTarget[] {
  return config.targets.map(({ id, kind, url }, index) => ({ index, id, kind, url }));
}

/** Names of the environment variables the config refers to that are unset or empty, each once. */
export function missingSecrets(config: TidemarkConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const names = config.targets.flatMap((target) => envRefs(target.url).filter((name) => !env[name]));
  return [...new Set(names)];
}

/** Throws one ConfigError naming every missing variable and every url that is wrong once resolved. */
export function assertSecrets(config: TidemarkConfig, env: NodeJS.ProcessEnv = process.env): void {
  const issues = targetEnvIssues(declaredTargetsOf(config), env);
  if (issues.length > 0) throw new ConfigError(issues.map(({ path, message }) => ({ path, message })));
}

/**
 * The `${VAR}` recipients of every encrypting policy that are unset in `env` or hold no age recipient: the dumper
 * needs them all to encrypt (never the identities, which only the verifier and restore read, and whose absence
 * only makes a backup unverifiable).
 */
export function recipientEnvIssues(
  config: TidemarkConfig,
  env: NodeJS.ProcessEnv = process.env,
): ConfigIssue[] {
  return Object.entries(config.policies).flatMap(([name, policy]) => {
    if (!policy.encryption) return [];
    try {
      resolveRecipients(policy.encryption, env, `policies.${name}.encryption`);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.issues;
      throw error;
    }
  });
}

/** What a source needs to reach a target: its kind, resolved url and the kind's settings. */
export interface ResolvedTarget {
  kind: string;
  url: string;
  /** The target's keys its kind declares (`SourceKind.settings`), as set in the config. */
  options: SourceSettings;
}

export function resolveTarget(
  config: TidemarkConfig,
  targetId: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTarget {
  const target = targetById(config, targetId);
  const declared = Object.keys(sourceKind(target.kind).settings.shape);
  const fields = target as Readonly<Record<string, unknown>>;
  const options = Object.fromEntries(
    declared.flatMap((key) => (fields[key] === undefined ? [] : [[key, fields[key]]])),
  );
  return { kind: target.kind, url: resolveTargetUrl(config, targetId, env), options };
}
