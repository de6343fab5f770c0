import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { ChannelKind, Notification } from '../contract';
import { httpChannel } from '../http-channel';
import { displayTitle } from '../render';
import { httpsUrl, nonEmptySecret } from '../resolved-values';

export const SIGNATURE_HEADER = 'x-tidemark-signature';
export const TIMESTAMP_HEADER = 'x-tidemark-timestamp';
export const NOTIFICATION_ID_HEADER = 'x-tidemark-notification-id';

function isCloudEvent(event: unknown): event is Record<string, unknown> {
  return (
    typeof event === 'object' &&
    event !== null &&
    (event as Record<string, unknown>)['specversion'] === '1.0' &&
    typeof (event as Record<string, unknown>)['id'] === 'string'
  );
}

/**
 * The CloudEvent a webhook receives (structured mode): the original event when there is one, with two extension
 * attributes saying which notification carries it; otherwise (a test, a digest) a `tidemark.notification.<kind>`
 * event of Tidemark's own whose data is the notification.
 */
export function webhookEvent(notification: Notification): Record<string, unknown> {
  const extensions = { tidemarknotification: notification.id, tidemarknotificationkind: notification.kind };
  if (isCloudEvent(notification.event)) return { ...notification.event, ...extensions };
  return {
    specversion: '1.0',
    id: notification.id,
    source: 'tidemark/notifier',
    type: `tidemark.notification.${notification.kind}`,
    time: notification.occurredAt,
    datacontenttype: 'application/json',
    ...(notification.targetId === undefined ? {} : { subject: notification.targetId }),
    ...extensions,
    data: {
      title: displayTitle(notification),
      summary: notification.summary,
      severity: notification.severity,
      dedupKey: notification.dedupKey,
      facts: notification.facts,
      commands: notification.commands,
      links: notification.links,
    },
  };
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the channel's secret. */
export function webhookSignature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

const resolved = z.object({ url: httpsUrl, secret: nonEmptySecret.optional() });

export const webhookKind: ChannelKind = {
  name: 'webhook',
  settings: z.object({ url: z.string().min(1), secret: z.string().min(1).optional() }),
  secrets: ['url', 'secret'],
  resolved,
  create(name, config, deps) {
    const { url, secret } = resolved.parse(config);
    return httpChannel(name, 'webhook', deps, [url, secret], (notification) => {
      const body = JSON.stringify(webhookEvent(notification));
      const headers: Record<string, string> = {
        'content-type': 'application/cloudevents+json; charset=utf-8',
        [NOTIFICATION_ID_HEADER]: notification.id,
        // Seconds since the epoch when the request was made, so a receiver can refuse old replays.
        [TIMESTAMP_HEADER]: String(Math.floor(Date.now() / 1000)),
      };
      if (secret !== undefined) headers[SIGNATURE_HEADER] = webhookSignature(body, secret);
      return { url, headers, body };
    });
  },
};
