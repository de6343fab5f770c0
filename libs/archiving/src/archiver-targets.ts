import { declaredTargetsOf, recipientEnvIssues, resolveTargetUrl, targetEnvIssues } from '@tidemark/config';
import { policyEncryption, resolveRecipients } from '@tidemark/encryption';
import type { AccessTier } from '@tidemark/manifest';
import {
  ConfigError,
  immutabilityOf,
  type ImmutabilitySettings,
  policyOf,
  type Target,
  type TidemarkConfig,
} from '@tidemark/policy';
import type { PhysicalTarget } from './archiver-service';

/** The archiver serves physical PostgreSQL targets only: the kind whose WAL it streams. */
const ARCHIVED_KIND = 'postgres';

/** The kind's defaults, for a physical target written without a `pitr` block. */
const DEFAULT_WINDOW_DAYS = 7;
const DEFAULT_MAX_LAG_SECONDS = 300;

/** A target's `pitr` block as the postgres kind's settings shaped it (defaults filled in). */
interface PitrSettings {
  windowDays?: number;
  shipPartialSeconds?: number;
  maxLagSeconds?: number;
  route?: 'slot' | 'archive-command';
  spool?: string;
}

export interface ArchivedTarget extends PhysicalTarget {
  /** The tier its WAL is written in: its policy's initial tier, as its base backups are. */
  tier: AccessTier;
  /** pitr.windowDays: the continuity walk starts at the base backup that serves the window's start. */
  windowDays: number;
  /** pitr.maxLagSeconds, exported for the lag alert. */
  maxLagSeconds: number;
  /** Its policy's age recipients, resolved: its WAL is stored encrypted to them (`.zst.age`). */
  recipients?: string[];
  /** storage.immutability or its policy's own: its segments and history files are locked (walProtection). */
  immutability?: ImmutabilitySettings;
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
  const policies = new Set(targets.map((target) => target.policy));
  const issues = [
    ...targetEnvIssues(
      declaredTargetsOf(config).filter((target) => ids.has(target.id)),
      env,
    ),
    // Only the recipients of its targets' policies: the archiver encrypts their WAL and nothing else.
    ...recipientEnvIssues(config, env).filter((issue) =>
      [...policies].some((policy) => issue.path.startsWith(`policies.${policy}.`)),
    ),
  ];
  if (issues.length > 0) throw new ConfigError(issues.map(({ path, message }) => ({ path, message })));
  return targets.map((target) => {
    const pitr = (target['pitr'] ?? {}) as PitrSettings;
    const encryption = policyEncryption(config, target);
    const immutability = immutabilityOf(config, policyOf(config, target));
    return {
      ...(immutability ? { immutability } : {}),
      ...(encryption
        ? { recipients: resolveRecipients(encryption.encryption, env, encryption.path).recipients }
        : {}),
      id: target.id,
      url: resolveTargetUrl(config, target.id, env),
      route: pitr.route ?? 'slot',
      ...(pitr.spool === undefined ? {} : { spool: pitr.spool }),
      ...(pitr.shipPartialSeconds === undefined ? {} : { shipPartialSeconds: pitr.shipPartialSeconds }),
      tier: policyOf(config, target).tiering.initial,
      windowDays: pitr.windowDays ?? DEFAULT_WINDOW_DAYS,
      maxLagSeconds: pitr.maxLagSeconds ?? DEFAULT_MAX_LAG_SECONDS,
    };
  });
}
