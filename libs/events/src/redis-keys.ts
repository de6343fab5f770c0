/**
 * Every Redis key Tidemark writes starts with one root, so installations sharing a Redis never touch each other's
 * keys: `tidemark` by default (today's keys, which the k8s manifests name), `tidemark-<TIDEMARK_NAMESPACE>` with a
 * namespace. The `-` keeps a namespaced root from ever being a prefix of a default key (`tidemark:`).
 */
export const DEFAULT_KEY_ROOT = 'tidemark';
export const NAMESPACE_ENV = 'TIDEMARK_NAMESPACE';

// Lower-case letters, digits and inner dashes: safe in a key, a BullMQ prefix and a Kubernetes label.
const NAMESPACE_FORMAT = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** A namespace that is not of the allowed form: its message is one line naming the variable. */
export class NamespaceError extends Error {
  constructor(value: string) {
    const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    super(
      `${NAMESPACE_ENV}: ${shown} is not a namespace (1-32 characters: a-z, 0-9 and "-", starting and ending with a letter or digit)`,
    );
    this.name = 'NamespaceError';
  }
}

/** The root of every key; throws NamespaceError for a malformed `TIDEMARK_NAMESPACE`. Unset or empty: the default. */
export function redisKeyRoot(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const namespace = env[NAMESPACE_ENV];
  if (namespace === undefined || namespace === '') return DEFAULT_KEY_ROOT;
  if (!NAMESPACE_FORMAT.test(namespace)) throw new NamespaceError(namespace);
  return `${DEFAULT_KEY_ROOT}-${namespace}`;
}

/** `<root>:<name>`, e.g. `tidemark:events` or `tidemark-acme:events`. */
export function redisKey(
  name: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return `${redisKeyRoot(env)}:${name}`;
}
