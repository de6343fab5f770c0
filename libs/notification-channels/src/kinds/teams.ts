import { z } from 'zod';
import type { ChannelKind, Notification } from '../contract';
import { httpChannel } from '../http-channel';
import { displayTitle, contextLine } from '../render';
import { httpsUrl } from '../resolved-values';

// Adaptive Card colours: the card's own palette, so it follows the Teams theme.
const TITLE_COLOUR = {
  critical: 'Attention',
  error: 'Attention',
  warning: 'Warning',
  info: 'Accent',
} as const;

/** An Adaptive Card 1.5 as Teams Workflows ("When a Teams webhook request is received") posts it. */
export function teamsPayload(notification: Notification): Record<string, unknown> {
  const colour = notification.kind === 'resolve' ? 'Good' : TITLE_COLOUR[notification.severity];
  const body: Record<string, unknown>[] = [
    {
      type: 'TextBlock',
      text: displayTitle(notification),
      size: 'Large',
      weight: 'Bolder',
      color: colour,
      wrap: true,
      style: 'heading',
    },
    { type: 'TextBlock', text: notification.summary, wrap: true },
  ];
  if (notification.facts.length > 0) {
    body.push({
      type: 'FactSet',
      facts: notification.facts.map((fact) => ({ title: fact.label, value: fact.value })),
    });
  }
  if (notification.commands.length > 0) {
    body.push(
      { type: 'TextBlock', text: 'Look further', weight: 'Bolder', spacing: 'Medium' },
      ...notification.commands.map((command) => ({
        type: 'TextBlock',
        text: command,
        fontType: 'Monospace',
        wrap: true,
        spacing: 'Small',
      })),
    );
  }
  body.push({
    type: 'TextBlock',
    text: contextLine(notification),
    isSubtle: true,
    size: 'Small',
    wrap: true,
  });
  const card = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.5',
    msteams: { width: 'Full' },
    body,
    actions: notification.links.map((link) => ({ type: 'Action.OpenUrl', title: link.label, url: link.url })),
  };
  return {
    type: 'message',
    attachments: [
      { contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card },
    ],
  };
}

const resolved = z.object({ url: httpsUrl });

export const teamsKind: ChannelKind = {
  name: 'teams',
  settings: z.object({ url: z.string().min(1) }),
  secrets: ['url'],
  resolved,
  create(name, config, deps) {
    const { url } = resolved.parse(config);
    return httpChannel(name, 'teams', deps, [url], (notification) => ({
      url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(teamsPayload(notification)),
    }));
  },
};
