import { declaredTargetsOf, resolveTargetUrl, targetEnvIssues } from '@tidemark/config';
import type { AccessTier } from '@tidemark/manifest';
import { ConfigError, policyOf, type Target, type TidemarkConfig } from '@tidemark/policy';
import type { PhysicalTarget } from './archiver-service';

/** The archiver serves physical PostgreSQL targets only: the kind whose WAL it streams. */
const ARCHIVED_KIND = 'postgres';

/** A target's `pitr` block as the postgres kind's settings shaped it (defaults filled in). */
interface PitrSettings {
  shipPartialSeconds?: number;
  maxLagSeconds?: number;
  route?: 'slot' | 'archive-command';
  spool?: string;
}

export interface ArchivedTarget extends PhysicalTarget {
  /** The tier its WAL is written in: its policy's initial tier, as its base backups are. */
  tier: AccessTier;
}

export function isArchived(target: Target): boolean {
  return target.kind === ARCHIVED_KIND && target['method'] === 'physical';
}

/**
 * Every physical target with its url resolved. The archiver refuses to start, one ConfigError line per problem,
 * when a variable one of them needs is unset or makes a bad url; the other targets' secrets it never needs.
 */
export function archivedTargets(config: TidemarkConfig, env: NodeJS.ProcessEnv): ArchivedTarget[] {
  const targets = config.targets.filter(isArchived);
  const ids = new Set(targets.map((target) => target.id));
  const issues = targetEnvIssues(
    declaredTargetsOf(config).filter((target) => ids.has(target.id)),
    env,
  );
  if (issues.length > 0) throw new ConfigError(issues.map(({ path, message }) => ({ path, message })));
  return targets.map((target) => {
    const pitr = (target['pitr'] ?? {}) as PitrSettings;
    return {
      id: target.id,
      url: resolveTargetUrl(config, target.id, env),
      route: pitr.route ?? 'slot',
      ...(pitr.spool === undefined ? {} : { spool: pitr.spool }),
      ...(pitr.shipPartialSeconds === undefined ? {} : { shipPartialSeconds: pitr.shipPartialSeconds }),
      tier: policyOf(config, target).tiering.initial,
    };
  });
}
