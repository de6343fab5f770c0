import type { Channel, ChannelDeps, ChannelKind, ResolvedChannelConfig } from './contract';
import { DEFAULT_DELIVERY } from './delivery';
import { emailKind } from './kinds/email';
import { pagerDutyKind } from './kinds/pagerduty';
import { slackKind } from './kinds/slack';
import { teamsKind } from './kinds/teams';
import { webhookKind } from './kinds/webhook';

// Each kind registers its descriptor here, one line each; the rest of Tidemark only sees ChannelKind and Channel.
const KINDS: readonly ChannelKind[] = [teamsKind, slackKind, pagerDutyKind, emailKind, webhookKind];

const BY_NAME: ReadonlyMap<string, ChannelKind> = new Map(KINDS.map((kind) => [kind.name, kind]));

/** The names of every channel kind, in the order messages list them. */
export const channelKinds: readonly string[] = KINDS.map((kind) => kind.name);

/** Every registered descriptor (libs/config hands them to the config schema). */
export function channelKindDescriptors(): readonly ChannelKind[] {
  return KINDS;
}

/** The descriptor of kind `name`; an error naming the known kinds otherwise. */
export function channelKind(name: string): ChannelKind {
  const kind = BY_NAME.get(name);
  if (!kind) throw new Error(`unknown channel type "${name}" (known: ${channelKinds.join(', ')})`);
  return kind;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A channel of the configured kind, its `${VAR}`s already resolved (libs/config `resolveChannelConfigs`). */
export function createChannel(name: string, config: ResolvedChannelConfig, deps: ChannelDeps = {}): Channel {
  return channelKind(config.type).create(name, config, {
    fetch: deps.fetch ?? fetch,
    delivery: { ...DEFAULT_DELIVERY, ...deps.delivery },
    sleep: deps.sleep ?? realSleep,
    random: deps.random ?? Math.random,
  });
}
