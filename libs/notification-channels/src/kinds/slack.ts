import { z } from 'zod';
import type { ChannelKind, Notification } from '../contract';
import { httpChannel } from '../http-channel';
import { contextLine, displayTitle } from '../render';
import { httpsUrl } from '../resolved-values';

// Block Kit's limits: a header's text, a section's fields and a section's text.
const HEADER_MAX = 150;
const FIELDS_PER_SECTION = 10;
const SECTION_TEXT_MAX = 3000;

/** Slack's mrkdwn treats these three as markup; everything else is shown as written. */
function escaped(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clipped(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A Block Kit message for an incoming webhook, with `text` as the notification's fallback. */
export function slackPayload(notification: Notification): Record<string, unknown> {
  const title = displayTitle(notification);
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: clipped(title, HEADER_MAX), emoji: false } },
    {
      type: 'section',
      text: { type: 'mrkdwn', text: clipped(escaped(notification.summary), SECTION_TEXT_MAX) },
    },
  ];
  for (let at = 0; at < notification.facts.length; at += FIELDS_PER_SECTION) {
    blocks.push({
      type: 'section',
      fields: notification.facts.slice(at, at + FIELDS_PER_SECTION).map((fact) => ({
        type: 'mrkdwn',
        text: clipped(`*${escaped(fact.label)}*\n${escaped(fact.value)}`, 2000),
      })),
    });
  }
  if (notification.commands.length > 0) {
    const code = '```' + notification.commands.map(escaped).join('\n') + '```';
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clipped(code, SECTION_TEXT_MAX) } });
  }
  if (notification.links.length > 0) {
    blocks.push({
      type: 'actions',
      elements: notification.links.map((link) => ({
        type: 'button',
        text: { type: 'plain_text', text: clipped(link.label, 75) },
        url: link.url,
      })),
    });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escaped(contextLine(notification)) }] });
  return { text: `${title}: ${notification.summary}`, blocks };
}

const resolved = z.object({ url: httpsUrl });

export const slackKind: ChannelKind = {
  name: 'slack',
  settings: z.object({ url: z.string().min(1) }),
  secrets: ['url'],
  resolved,
  create(name, config, deps) {
    const { url } = resolved.parse(config);
    return httpChannel(name, 'slack', deps, [url], (notification) => ({
      url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slackPayload(notification)),
    }));
  },
};
