import type { AuditActor, EventDetails, EventType } from '@tidemark/events';
import { userInfo } from 'node:os';
import type { CliContext } from './context';

type AuditType = Extract<EventType, `tidemark.audit.${string}`>;

/**
 * The CLI changes storage and queues directly, with no token: its audit events name the operating-system user
 * running it. Restores and pins are published before they run, so an attempt is on record even if the process
 * dies; a retention apply after it, with what it deleted.
 */
export function localActor(env: NodeJS.ProcessEnv = process.env): AuditActor {
  try {
    return { kind: 'local', user: userInfo().username };
  } catch {
    // No passwd entry (a container running as an arbitrary uid).
    return { kind: 'local', user: env['USER'] ?? `uid:${String(process.getuid?.() ?? 'unknown')}` };
  }
}

/** Publishes one `tidemark.audit.<action>` of this CLI run (never fails the command: see EventPublisher). */
export async function auditCli<T extends AuditType>(
  ctx: CliContext,
  type: T,
  targetId: string,
  backupId: string | undefined,
  details: Omit<EventDetails<T>, 'actor' | 'via'>,
): Promise<void> {
  const { events } = await ctx.storage();
  // The type's own fields plus the two every audit event has; the compiler cannot join them for a generic T.
  const data = { ...details, actor: localActor(ctx.env), via: 'cli' } as unknown as EventDetails<T>;
  await events.emit(type, targetId, backupId, data);
}
