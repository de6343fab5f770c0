import { eventData, redisKey, type TidemarkEvent } from '@tidemark/events';
import type { CliContext } from './context';

// `unverifiable` (an encrypted backup the verifier holds no identity for) ends the wait too: nothing follows it.
const FINAL = new Set([
  'tidemark.backup.verified',
  'tidemark.backup.corrupt',
  'tidemark.backup.unverifiable',
  'tidemark.backup.failed',
]);

/**
 * Where to start following so that a wait started before a trigger misses none of its events: the newest entry of
 * the Redis Stream now. A Service Bus subscription keeps what arrives after it exists, so there '$' suffices.
 */
export async function eventCursor(ctx: CliContext): Promise<string> {
  if (ctx.env['AZURE_SERVICEBUS_CONNECTION_STRING'] || ctx.env['AZURE_SERVICEBUS_NAMESPACE']) return '$';
  const redis = await ctx.redis();
  const last = await redis.xrevrange(redisKey('events', ctx.env), '+', '-', 'COUNT', 1);
  return last[0]?.[0] ?? '0-0';
}

/** Follows the event stream until the backup is verified, corrupt, unverifiable or failed; returns that event. */
export async function waitForBackup(
  ctx: CliContext,
  backupId: string,
  options: { from: string; timeoutMs: number; onEvent?: (event: TidemarkEvent) => void },
): Promise<TidemarkEvent> {
  const bus = await ctx.bus();
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, options.timeoutMs);
  try {
    for await (const { event } of bus.follow({ from: options.from, signal: controller.signal })) {
      if (event.data.backupId !== backupId) continue;
      options.onEvent?.(event);
      if (FINAL.has(event.type)) return event;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  throw new Error(
    `gave up waiting for backup ${backupId} after ${Math.round(options.timeoutMs / 1000)}s (it may still finish: tidemark show ${backupId})`,
  );
}

/**
 * Follows a server run (one backup per database plus the globals) until every member is verified, corrupt or
 * failed, or the run itself failed before it dumped anything. Members are learnt from the first `dumped` event.
 */
export async function waitForRun(
  ctx: CliContext,
  runId: string,
  options: { from: string; timeoutMs: number; onEvent?: (event: TidemarkEvent) => void },
): Promise<{ runFailure: TidemarkEvent | null; members: Map<string, TidemarkEvent> }> {
  const bus = await ctx.bus();
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, options.timeoutMs);
  let members: string[] | null = null;
  const finals = new Map<string, TidemarkEvent>();
  try {
    for await (const { event } of bus.follow({ from: options.from, signal: controller.signal })) {
      const backupId = event.data.backupId;
      if (!backupId) continue;
      if (backupId === runId) {
        options.onEvent?.(event);
        if (event.type === 'tidemark.backup.failed') return { runFailure: event, members: finals };
        continue;
      }
      const run = eventData(event, 'tidemark.backup.dumped')?.run;
      if (members === null && run?.id === runId && Array.isArray(run.members)) members = run.members;
      // Finals of unknown backups are kept too: a member may fail before any member's dumped event names it.
      if (FINAL.has(event.type)) finals.set(backupId, event);
      if (!members?.includes(backupId)) continue;
      options.onEvent?.(event);
      const all = members;
      if (all.every((id) => finals.has(id))) {
        return {
          runFailure: null,
          members: new Map(
            all.flatMap((id) => (finals.has(id) ? [[id, finals.get(id) as TidemarkEvent]] : [])),
          ),
        };
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  throw new Error(
    `gave up waiting for run ${runId} after ${Math.round(options.timeoutMs / 1000)}s (it may still finish: tidemark list)`,
  );
}

export function describeEvent(event: TidemarkEvent): string {
  const d = event.data;
  const stage = event.type.replace('tidemark.', '');
  const parts: string[] = [stage.padEnd(18)];
  if (d.sizes)
    parts.push(
      Object.entries(d.sizes)
        .map(([k, v]) => `${k} ${v} B`)
        .join(', '),
    );
  if (d.durations)
    parts.push(
      Object.entries(d.durations)
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`)
        .join(', '),
    );
  if (d.error) parts.push(`${d.error.code}: ${d.error.message}`);
  return parts.join('  ');
}
