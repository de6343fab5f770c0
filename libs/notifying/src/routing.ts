import type { TidemarkEvent } from '@tidemark/events';
import { durationMs } from '@tidemark/policy';
import type { NotificationRoute, NotificationsSettings } from './channel-contract';

/** How long a condition stays quiet after it was sent, unless the config says otherwise. */
export const DEFAULT_REPEAT_AFTER_MS = 4 * 3600_000;

/** A duration the schema (libs/policy) has checked; the default for one it would not have let through. */
function quietMs(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : (durationMs(text) ?? fallback);
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
  const defaultRepeat = quietMs(settings.repeatAfter, DEFAULT_REPEAT_AFTER_MS);
  const failed = event.type === 'tidemark.notification.failed' ? event.data['channel'] : undefined;
  const channels = new Map<string, RoutedChannel>();
  const digests: number[] = [];
  settings.routes.forEach((route, index) => {
    if (!routeMatches(route, event)) return;
    if (route.digest) {
      digests.push(index);
      return;
    }
    const repeatAfterMs = quietMs(route.repeatAfter, defaultRepeat);
    for (const channel of route.channels)
      if (channel !== failed && !channels.has(channel)) channels.set(channel, { channel, repeatAfterMs });
  });
  return { channels: [...channels.values()], digests };
}
