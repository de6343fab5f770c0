import { ConfigError, envRefs, resolveEnvRefs, targetById, type TidemarkConfig } from '@tidemark/policy';

/** The target's connection url with its `${ENV}` references filled in from `env`. */
export function resolveTargetUrl(
  config: TidemarkConfig,
  targetId: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const target = targetById(config, targetId);
  return resolveEnvRefs(target.url, env, `targets[${config.targets.indexOf(target)}].url`);
}

/** Names of the environment variables the config refers to that are unset or empty, each once. */
export function missingSecrets(config: TidemarkConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  return [...new Set(secretIssues(config, env).map((issue) => issue.name))];
}

/** Throws one ConfigError naming every missing variable at every place it is used. */
export function assertSecrets(config: TidemarkConfig, env: NodeJS.ProcessEnv = process.env): void {
  const issues = secretIssues(config, env);
  if (issues.length > 0) {
    throw new ConfigError(
      issues.map(({ path, name }) => ({ path, message: `environment variable ${name} is not set` })),
    );
  }
}

function secretIssues(config: TidemarkConfig, env: NodeJS.ProcessEnv): { path: string; name: string }[] {
  return config.targets.flatMap((target, index) =>
    envRefs(target.url)
      .filter((name) => !env[name])
      .map((name) => ({ path: `targets[${index}].url`, name })),
  );
}

/** What a source needs to reach a target: its kind, resolved url and the kind's settings. */
export interface ResolvedTarget {
  kind: string;
  url: string;
  options: {
    excludeTables?: string[];
    excludeSchemas?: string[];
    jobs?: number;
    exclude?: string[];
    pre?: string;
    post?: string;
  };
}

export function resolveTarget(
  config: TidemarkConfig,
  targetId: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTarget {
  const target = targetById(config, targetId);
  const { excludeTables, excludeSchemas, jobs, exclude, pre, post } = target;
  const options = Object.fromEntries(
    Object.entries({ excludeTables, excludeSchemas, jobs, exclude, pre, post }).filter(
      ([, v]) => v !== undefined,
    ),
  ) as ResolvedTarget['options'];
  return { kind: target.kind, url: resolveTargetUrl(config, targetId, env), options };
}
