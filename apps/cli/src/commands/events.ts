import type { Command } from 'commander';
import type { CliContext } from '../context';
import { describeEvent } from '../wait-for-backup';

export function registerEvents(program: Command, context: () => CliContext): void {
  program
    .command('events')
    .description('the event stream (CloudEvents); --follow keeps printing new ones')
    .option('--follow', 'keep following new events until interrupted')
    .option('--target <id>', 'only events of this target')
    .option('--limit <n>', 'how many past events to show', '50')
    .action(async (options: { follow?: boolean; target?: string; limit: string }) => {
      const ctx = context();
      const bus = await ctx.bus();
      const print = (event: Parameters<typeof describeEvent>[0]): void => {
        if (ctx.options.json) console.log(JSON.stringify(event));
        else console.log(`${event.time}  ${event.subject.padEnd(40)}  ${describeEvent(event)}`);
      };
      const past = await bus.history({
        ...(options.target ? { targetId: options.target } : {}),
        limit: Number(options.limit),
      });
      for (const stored of past) print(stored.event);
      if (!options.follow) return;
      const controller = new AbortController();
      process.once('SIGINT', () => {
        controller.abort();
      });
      const from = past.at(-1)?.id ?? '$';
      for await (const { event } of bus.follow({ from, signal: controller.signal })) {
        if (!options.target || event.data.targetId === options.target) print(event);
      }
    });
}
