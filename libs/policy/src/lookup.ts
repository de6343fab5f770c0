import { ConfigError } from './config-error';
import type { Policy, Target, TidemarkConfig } from './config.schema';

export function targetById(config: TidemarkConfig, id: string): Target {
  const target = config.targets.find((candidate) => candidate.id === id);
  if (target === undefined) {
    const known = config.targets.map((candidate) => candidate.id).join(', ');
    throw new ConfigError([{ path: '', message: `unknown target "${id}" (known: ${known})` }]);
  }
  return target;
}

export function policyOf(config: TidemarkConfig, target: Target): Policy {
  // hasOwn, so a policy named like an Object.prototype member ("toString") is not found by accident.
  const policy = Object.hasOwn(config.policies, target.policy) ? config.policies[target.policy] : undefined;
  if (policy === undefined) {
    const known = Object.keys(config.policies).join(', ') || 'none';
    throw new ConfigError([
      { path: '', message: `target "${target.id}" uses unknown policy "${target.policy}" (known: ${known})` },
    ]);
  }
  return policy;
}
