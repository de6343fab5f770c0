import type { Notification, NotificationSeverity } from './contract';

/** The title as people see it: a resolve says so first, a repeat says it is one. */
export function displayTitle(notification: Notification): string {
  switch (notification.kind) {
    case 'resolve':
      return `Resolved: ${notification.title}`;
    case 'repeat':
      return `Still open: ${notification.title}`;
    case 'test':
      return `Test: ${notification.title}`;
    case 'raise':
    case 'digest':
      return notification.title;
  }
}

export const SEVERITY_LABEL: Readonly<Record<NotificationSeverity, string>> = {
  critical: 'CRITICAL',
  error: 'ERROR',
  warning: 'WARNING',
  info: 'INFO',
};

/** One line under the message: what, where and when. */
export function contextLine(notification: Notification): string {
  const status = notification.kind === 'resolve' ? 'RESOLVED' : SEVERITY_LABEL[notification.severity];
  const where = notification.targetId === undefined ? [] : [notification.targetId];
  return [status, ...where, notification.occurredAt, 'Tidemark'].join(' · ');
}

/** The notification as plain text (e-mail's text part, fallbacks). */
export function plainText(notification: Notification): string {
  const lines = [displayTitle(notification), '', notification.summary, ''];
  for (const fact of notification.facts) lines.push(`${fact.label}: ${fact.value}`);
  if (notification.commands.length > 0) {
    lines.push('', 'Look further:', ...notification.commands.map((command) => `  ${command}`));
  }
  if (notification.links.length > 0) {
    lines.push('', ...notification.links.map((link) => `${link.label}: ${link.url}`));
  }
  lines.push('', contextLine(notification));
  return `${lines.join('\n')}\n`;
}
