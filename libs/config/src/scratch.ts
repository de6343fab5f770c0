import {
  envRefs,
  policyOf,
  resolveEnvRefs,
  targetById,
  type ConfigIssue,
  type TidemarkConfig,
} from '@tidemark/policy';
import { isUrlDestination } from '@tidemark/source-kinds';
import { resolveTargetUrl } from './secrets';
import { resolvedUrlProblem } from './target-urls';

/**
 * Where a target's restore tests and drills make their scratch copies: a scratch server (`url`, resolved) for
 * server kinds, a scratch directory (`path`) for file-based ones.
 */
export type ResolvedScratch = { kind: string; url: string } | { kind: string; path: string };

/** `policies.<name>.verify.scratch.url`, where an unset scratch variable is reported. */
export function scratchUrlPath(policyName: string): string {
  return `policies.${policyName}.verify.scratch.url`;
}

/**
 * The target's scratch, or null when its policy configures none for its kind (then restore tests run on the
 * target's own server, as without scratch). Whether the kind is a server kind is read from its resolved url.
 */
export function resolveScratch(
  config: TidemarkConfig,
  targetId: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedScratch | null {
  const target = targetById(config, targetId);
  const scratch = policyOf(config, target).verify.scratch;
  if (!scratch) return null;
  const server = isUrlDestination(resolveTargetUrl(config, targetId, env));
  if (server && scratch.url !== undefined)
    return { kind: target.kind, url: resolveEnvRefs(scratch.url, env, scratchUrlPath(target.policy)) };
  if (!server && scratch.path !== undefined) return { kind: target.kind, path: scratch.path };
  return null;
}

/** What the policies' scratch urls lack in `env`: each unset variable, and a url its targets' kinds cannot parse. */
export function scratchEnvIssues(
  config: TidemarkConfig,
  env: NodeJS.ProcessEnv = process.env,
): ConfigIssue[] {
  return Object.entries(config.policies).flatMap(([name, policy]) => {
    const url = policy.verify.scratch?.url;
    if (url === undefined) return [];
    const path = scratchUrlPath(name);
    const missing = envRefs(url).filter((ref) => !env[ref]);
    if (missing.length > 0)
      return missing.map((ref) => ({ path, message: `environment variable ${ref} is not set` }));
    const resolved = resolveEnvRefs(url, env, path);
    // Only the policy's server targets use the url (file-based ones use the scratch path).
    const kinds = new Set(
      config.targets.filter((t) => t.policy === name && isServerTarget(config, t.id, env)).map((t) => t.kind),
    );
    return [...kinds].flatMap((kind) => {
      const problem = resolvedUrlProblem(kind, url, resolved);
      return problem === undefined ? [] : [{ path, message: `for ${kind} targets: ${problem}` }];
    });
  });
}

/** Whether the target's url names a server; a target whose url is unresolvable is reported by targetEnvIssues. */
function isServerTarget(config: TidemarkConfig, targetId: string, env: NodeJS.ProcessEnv): boolean {
  try {
    return isUrlDestination(resolveTargetUrl(config, targetId, env));
  } catch {
    return false;
  }
}

/** What `tidemark targets` shows of a target's scratch when no scratch is configured for its kind. */
export const NO_SCRATCH_LABEL = 'source (no scratch)';

/**
 * Where a target's restore tests and drills run, for people: the scratch server's reference as written (never the
 * url it resolves to), the scratch directory, or `source (no scratch)`. Works without the target's secrets.
 */
export function scratchLabel(
  config: TidemarkConfig,
  targetId: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const target = targetById(config, targetId);
  const scratch = policyOf(config, target).verify.scratch;
  if (!scratch) return NO_SCRATCH_LABEL;
  let server: boolean;
  try {
    server = isUrlDestination(resolveTargetUrl(config, targetId, env));
  } catch {
    // The url's variables are not set here: a url reference is taken for a server, a literal path for a directory.
    server = target.url.startsWith('${') || isUrlDestination(target.url);
  }
  if (server) return scratch.url !== undefined ? `server ${scratch.url}` : NO_SCRATCH_LABEL;
  return scratch.path !== undefined ? `directory ${scratch.path}` : NO_SCRATCH_LABEL;
}
