import type { TidemarkConfig } from '@tidemark/policy';
import { ConfigError } from '@tidemark/policy';
import { channelEnvIssues, SERVICES_NOTIFYING } from './channels';
import { scratchEnvIssues } from './scratch';
import { declaredTargetsOf, recipientEnvIssues, targetEnvIssues } from './secrets';

/**
 * The services that open target connections (they resolve the targets' urls), so they need every `${VAR}` of
 * every target: the dumper reads the sources, the verifier restores into scratch copies on them. The scheduler,
 * uploader and retention never do, and deployments do not give them the secrets (test/src/config-check.e2e.spec.ts
 * holds this list to what the code does).
 */
export const SERVICES_OPENING_TARGETS: readonly string[] = ['dumper', 'verifier'];

/**
 * Fails a service's start, with one ConfigError line per problem, when a variable it will need is unset or makes
 * a url its source cannot parse; a later job would only fail with the same reason.
 */
export function assertServiceEnv(config: TidemarkConfig, service: string, env: NodeJS.ProcessEnv): void {
  const issues = [
    ...(SERVICES_OPENING_TARGETS.includes(service) ? targetEnvIssues(declaredTargetsOf(config), env) : []),
    ...(SERVICES_ENCRYPTING.includes(service) ? recipientEnvIssues(config, env) : []),
    ...(SERVICES_NOTIFYING.includes(service) ? channelEnvIssues(config, env) : []),
    ...(SERVICES_USING_SCRATCH.includes(service) ? scratchEnvIssues(config, env) : []),
  ];
  if (issues.length > 0) throw new ConfigError(issues.map(({ path, message }) => ({ path, message })));
}

/** The services that encrypt (to the policies' public recipients, `${VAR}`s resolved at start). */
export const SERVICES_ENCRYPTING: readonly string[] = ['dumper'];

/** The services that make scratch copies (restore tests and drills) on the policies' scratch servers. */
export const SERVICES_USING_SCRATCH: readonly string[] = ['verifier'];
