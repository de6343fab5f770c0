import type { TidemarkEvent } from '@tidemark/events';
import type { NotificationRoute, NotificationsSettings } from './channel-contract';

/** How long a condition stays quiet after it was sent, unless the config says otherwise. */
export const DEFAULT_REPEAT_AFTER_MS = 4 * 3600_000;

const UNIT_MS = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 } as const;

/** `90s`, `30m`, `4h`, `1d` in milliseconds; the schema (libs/policy) has checked the form already. */
export function durationMs(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration like 30m, 4h or 1d`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

export function routeMatches(route: NotificationRoute, event: TidemarkEvent): boolean {
  const { severity, targets, types } = route.match;
  if (severity && !severity.includes(event.severity)) return false;
  if (targets && !targets.includes(event.data.targetId)) return false;
  return !types || types.includes(event.type);
}

/** A channel an event goes to now, with the quiet time of the (first) route that sent it there. */
export interface RoutedChannel {
  channel: string;
  repeatAfterMs: number;
}

export interface RoutedEvent {
  /** Each channel once, however many routes name it. */
  channels: RoutedChannel[];
  /** Indexes of the matching routes with a `digest`: the event is collected for their summary instead. */
  digests: number[];
}

/**
 * Which channels an event goes to. An event may match several routes; each channel gets it once. A
 * `notification.failed` never goes to the channel that failed (it would only fail again, and again).
 */
export function routeEvent(settings: NotificationsSettings, event: TidemarkEvent): RoutedEvent {
  const defaultRepeat = settings.repeatAfter ? durationMs(settings.repeatAfter) : DEFAULT_REPEAT_AFTER_MS;
  const failed = event.type === 'tidemark.notification.failed' ? event.data['channel'] : undefined;
  const channels = new Map<string, RoutedChannel>();
  const digests: number[] = [];
  settings.routes.forEach((route, index) => {
    if (!routeMatches(route, event)) return;
    if (route.digest) {
      digests.push(index);
      return;
    }
    const repeatAfterMs = route.repeatAfter ? durationMs(route.repeatAfter) : defaultRepeat;
    for (const channel of route.channels)
      if (channel !== failed && !channels.has(channel)) channels.set(channel, { channel, repeatAfterMs });
  });
  return { channels: [...channels.values()], digests };
}
