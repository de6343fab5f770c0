import { randomUUID } from 'node:crypto';
import type { Notification } from './contract';

/** What `tidemark notify test <channel>` sends: clearly a test, with every part a real message has. */
export function testNotification(
  channel: string,
  options: { now?: Date; dashboardUrl?: string | undefined } = {},
): Notification {
  const at = (options.now ?? new Date()).toISOString();
  return {
    id: `test-${randomUUID()}`,
    kind: 'test',
    dedupKey: `tidemark-test|${channel}`,
    severity: 'info',
    title: `Tidemark can reach ${channel}`,
    summary: `This is a test message from \`tidemark notify test ${channel}\`. Nothing is wrong; if you can read it, the channel works.`,
    occurredAt: at,
    facts: [
      { label: 'Channel', value: channel },
      { label: 'Sent at', value: at },
    ],
    commands: [`tidemark notify test ${channel}`, 'tidemark config check'],
    links: options.dashboardUrl === undefined ? [] : [{ label: 'Dashboard', url: options.dashboardUrl }],
  };
}
