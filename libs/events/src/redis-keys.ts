import { environmentOf, type RawEnvironment } from '@tidemark/environment';

/**
 * Every Redis key Tidemark writes starts with one root, so installations sharing a Redis never touch each other's
 * keys: `tidemark` by default (today's keys, which the k8s manifests name), `tidemark-<TIDEMARK_NAMESPACE>` with a
 * namespace. The `-` keeps a namespaced root from ever being a prefix of a default key (`tidemark:`).
 */
export const DEFAULT_KEY_ROOT = 'tidemark';
/**
 * The root of every key; a malformed `TIDEMARK_NAMESPACE` is an EnvironmentError naming it (libs/environment checks
 * the form). Unset or empty: the default. `raw` (tests): that environment instead of the one read at start.
 */
export function redisKeyRoot(raw?: RawEnvironment): string {
  const env = environmentOf(raw);
  return env.TIDEMARK_NAMESPACE === undefined
    ? DEFAULT_KEY_ROOT
    : `${DEFAULT_KEY_ROOT}-${env.TIDEMARK_NAMESPACE}`;
}

/** `<root>:<name>`, e.g. `tidemark:events` or `tidemark-acme:events`. */
export function redisKey(name: string, raw?: RawEnvironment): string {
  return `${redisKeyRoot(raw)}:${name}`;
}
