import { resolvedChannelConfig } from '@tidemark/config';
import { createChannel, testNotification, type DeliveryResult } from '@tidemark/notification-channels';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { printJson } from '../output';

/** `notify test <channel>`: one test message through a configured channel, and what the channel answered. */
export function registerNotify(program: Command, context: () => CliContext): void {
  const notify = program.command('notify').description('notification channels (notifications.channels)');
  notify
    .command('test')
    .description(
      'send a test message to a channel and print what it answered; exit 1 if it was not delivered',
    )
    .argument('<channel>', 'a channel name from notifications.channels')
    .action(async (name: string) => {
      const ctx = context();
      const config = ctx.config();
      const configured = Object.keys(config.notifications?.channels ?? {});
      if (!configured.includes(name)) {
        const known = configured.length > 0 ? configured.join(', ') : 'none configured';
        throw new Error(`unknown channel "${name}" (known: ${known})`);
      }
      const resolved = resolvedChannelConfig(config, name, ctx.env);
      const channel = createChannel(name, resolved);
      const result = await channel.send(
        testNotification(name, { dashboardUrl: config.notifications?.dashboardUrl }),
      );
      if (!result.ok) process.exitCode = 1;
      if (ctx.options.json) printJson({ channel: name, type: channel.kind, ...result });
      else printResult(name, channel.kind, result);
    });
}

function printResult(name: string, kind: string, result: DeliveryResult): void {
  console.log(`channel:  ${name} (${kind})`);
  console.log(`result:   ${result.ok ? 'delivered' : 'not delivered'}`);
  console.log(`status:   ${result.status === undefined ? '-' : String(result.status)}`);
  console.log(`attempts: ${result.attempts}`);
  console.log(`answer:   ${result.detail}`);
}
