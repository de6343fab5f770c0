import {
  channelPath,
  ConfigError,
  envRefs,
  resolveEnvRefs,
  type ConfigIssue,
  type NotificationChannelConfig,
  type TidemarkConfig,
} from '@tidemark/policy';
import { channelKind, type ResolvedChannelConfig } from '@tidemark/notification-channels';

/** The services that deliver notifications, so they need every channel's `${VAR}`s. */
export const SERVICES_NOTIFYING: readonly string[] = ['notifier'];

export interface ResolvedChannels {
  /** Every channel whose values are all set and well-formed, `${VAR}`s filled in. */
  channels: Record<string, ResolvedChannelConfig>;
  /** One per unset variable or malformed resolved value, at the channel's key; never with the value. */
  issues: ConfigIssue[];
}

/**
 * The configured channels (or only `names`) with their `${VAR}`s filled in from `env`, and what is wrong with
 * the others: each unset or empty variable where it is used, and each value that its kind refuses once resolved.
 */
export function resolveChannelConfigs(
  config: TidemarkConfig,
  env: NodeJS.ProcessEnv = process.env,
  names?: readonly string[],
): ResolvedChannels {
  const channels: Record<string, ResolvedChannelConfig> = {};
  const issues: ConfigIssue[] = [];
  for (const [name, channel] of Object.entries(config.notifications?.channels ?? {})) {
    if (names !== undefined && !names.includes(name)) continue;
    const resolved = resolveChannel(name, channel, env);
    if ('issues' in resolved) issues.push(...resolved.issues);
    else channels[name] = resolved.config;
  }
  return { channels, issues };
}

/** Channel `name` resolved; a ConfigError with one line per problem when it cannot be. */
export function resolvedChannelConfig(
  config: TidemarkConfig,
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedChannelConfig {
  const { channels, issues } = resolveChannelConfigs(config, env, [name]);
  const channel = channels[name];
  if (issues.length > 0 || channel === undefined) throw new ConfigError(issues);
  return channel;
}

/** The problems every channel has in `env`, as `config check` and a notifying service's start report them. */
export function channelEnvIssues(
  config: TidemarkConfig,
  env: NodeJS.ProcessEnv = process.env,
): ConfigIssue[] {
  return resolveChannelConfigs(config, env).issues;
}

function resolveChannel(
  name: string,
  channel: NotificationChannelConfig,
  env: NodeJS.ProcessEnv,
): { config: ResolvedChannelConfig } | { issues: ConfigIssue[] } {
  const { type, ...settings } = channel;
  const issues: ConfigIssue[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value !== 'string' || envRefs(value).length === 0) {
      values[key] = value;
      continue;
    }
    const path = channelPath(name, key);
    const missing = envRefs(value).filter((variable) => !env[variable]);
    if (missing.length > 0) {
      issues.push(...missing.map((variable) => ({ path, message: `\${${variable}} is not set` })));
    } else {
      values[key] = resolveEnvRefs(value, env, path);
    }
  }
  if (issues.length > 0) return { issues };
  const checked = channelKind(type).resolved.safeParse(values);
  if (!checked.success) {
    return {
      issues: checked.error.issues.map((issue) => ({
        path: channelPath(name, issue.path.map(String).join('.')),
        message: issue.message,
      })),
    };
  }
  return { config: { type, ...values } };
}
