import { ConfigError } from './config-error';

const ENV_REF = /\$\{([A-Z_][A-Z0-9_]*)\}/g;
// Any `${` that does not start a well-formed reference, up to its closing brace if there is one.
const MALFORMED_ENV_REF = /\$\{(?![A-Z_][A-Z0-9_]*\})[^}]*\}?/g;

/** Names of the environment variables a template refers to as `${NAME}`, each once, in order. */
export function envRefs(template: string): string[] {
  return [...new Set(Array.from(template.matchAll(ENV_REF), (match) => match[1] ?? ''))];
}

/** `${...}` fragments that look like references but are not, e.g. `${orders_url}` or an unclosed `${X`. */
export function malformedEnvRefs(template: string): string[] {
  return Array.from(template.matchAll(MALFORMED_ENV_REF), (match) => match[0]);
}

/**
 * Replaces every `${NAME}` with its value from `env`. An unset or empty variable is an error naming `path`,
 * because an empty secret would only fail later with a less helpful message.
 */
export function resolveEnvRefs(
  template: string,
  env: Record<string, string | undefined>,
  path: string,
): string {
  const missing = envRefs(template).filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map((name) => ({ path, message: `environment variable ${name} is not set` })),
    );
  }
  return template.replace(ENV_REF, (_match, name: string) => env[name] ?? '');
}
