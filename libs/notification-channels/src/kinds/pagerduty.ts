import { z } from 'zod';
import type { ChannelKind, Notification } from '../contract';
import { httpChannel } from '../http-channel';
import { displayTitle } from '../render';
import { httpsUrl } from '../resolved-values';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

// PagerDuty refuses a summary longer than this.
const SUMMARY_MAX = 1024;

/**
 * An Events API v2 event: a resolve closes the incident its dedup key opened; anything else triggers (a repeat
 * with the same key adds to the open incident rather than opening another).
 */
export function pagerDutyPayload(notification: Notification, routingKey: string): Record<string, unknown> {
  if (notification.kind === 'resolve') {
    return { routing_key: routingKey, event_action: 'resolve', dedup_key: notification.dedupKey };
  }
  const title = displayTitle(notification);
  const details: Record<string, unknown> = { summary: notification.summary };
  for (const fact of notification.facts) details[fact.label] = fact.value;
  if (notification.commands.length > 0) details['commands'] = notification.commands;
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: notification.dedupKey,
    payload: {
      summary: title.length > SUMMARY_MAX ? `${title.slice(0, SUMMARY_MAX - 1)}…` : title,
      source: notification.targetId ?? 'tidemark',
      severity: notification.severity,
      timestamp: notification.occurredAt,
      component: notification.targetId ?? 'tidemark',
      ...(notification.eventType === undefined ? {} : { class: notification.eventType }),
      group: 'tidemark',
      custom_details: details,
    },
    client: 'Tidemark',
    links: notification.links.map((link) => ({ href: link.url, text: link.label })),
  };
}

const resolved = z.object({
  routingKey: z.string().regex(/^[A-Za-z0-9]{32}$/, {
    error: 'not a valid routing key (an integration key is 32 letters and digits)',
  }),
  url: httpsUrl,
});

export const pagerDutyKind: ChannelKind = {
  name: 'pagerduty',
  settings: z.object({ routingKey: z.string().min(1), url: z.string().min(1).default(PAGERDUTY_EVENTS_URL) }),
  secrets: ['routingKey'],
  resolved,
  create(name, config, deps) {
    const { routingKey, url } = resolved.parse(config);
    return httpChannel(name, 'pagerduty', deps, [routingKey], (notification) => ({
      url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(pagerDutyPayload(notification, routingKey)),
    }));
  },
};
