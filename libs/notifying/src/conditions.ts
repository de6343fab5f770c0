import type { CommonEventData, EventType, TidemarkEvent } from '@tidemark/events';

/**
 * What an event means to a person, declared once for every type the notifier treats specially:
 * - `raise`: a problem. Its condition is target + type + code; it is sent once per channel, then again only after
 *   `repeatAfter`, until an event that `resolves` it arrives.
 * - `resolves`: a recovery. Every open condition of the event's target whose type is listed is resolved, on the
 *   channels it was raised on (whatever the routes say of the recovery event itself).
 * A type in neither is a plain fact: sent to the routes that match it, every time (e.g. `types: [backup.verified]`).
 */
export interface ConditionSpec {
  /** What happened, for the title: `backup failed`. */
  readonly what: string;
  /** The condition's code: the error code, or a fixed word for problems that carry none. */
  readonly code?: (data: CommonEventData) => string;
  /** A recovery of the condition instead of a raise (`backup.overdue` with `recovered: true`). */
  readonly recovers?: (data: CommonEventData) => boolean;
  /** The types of the target's open conditions this type resolves. */
  readonly resolves?: readonly EventType[];
  /** The section of deploy/runbooks.md (its anchor) that says what to do. */
  readonly runbook?: string;
}

const errorCode = (data: CommonEventData): string => data.error?.code ?? 'unknown';

function drillBreached(data: CommonEventData): boolean {
  const rto = data['rto'] as { breached?: unknown } | undefined;
  return rto?.breached === true;
}

export const CONDITIONS: Partial<Readonly<Record<EventType, ConditionSpec>>> = {
  'tidemark.backup.failed': { what: 'backup failed', code: errorCode, runbook: 'tidemarkbackupfailed' },
  'tidemark.backup.corrupt': { what: 'backup corrupt', code: errorCode, runbook: 'tidemarkbackupcorrupt' },
  'tidemark.backup.unverifiable': {
    what: 'backup unverifiable',
    code: errorCode,
    runbook: 'tidemarkbackupunverifiable',
  },
  'tidemark.backup.overdue': {
    what: 'backup overdue',
    code: () => 'overdue',
    recovers: (data) => data['recovered'] === true,
    resolves: ['tidemark.backup.overdue'],
    runbook: 'tidemarkbackupoverdue',
  },
  'tidemark.backup.verified': {
    what: 'backup verified',
    resolves: ['tidemark.backup.failed', 'tidemark.backup.corrupt', 'tidemark.backup.unverifiable'],
  },
  'tidemark.wal.archive_failed': {
    what: 'WAL archiving failed',
    code: errorCode,
    runbook: 'tidemarkwalarchivelag',
  },
  'tidemark.wal.archived': { what: 'WAL archived', resolves: ['tidemark.wal.archive_failed'] },
  'tidemark.wal.gap': { what: 'WAL archive has a gap', code: () => 'gap', runbook: 'tidemarkwalgap' },
  'tidemark.restore.failed': { what: 'restore failed', code: errorCode, runbook: 'tidemarkrestorefailed' },
  'tidemark.restore.completed': { what: 'restore completed', resolves: ['tidemark.restore.failed'] },
  'tidemark.storage.low_disk': {
    what: 'local disk low',
    code: () => 'low-disk',
    runbook: 'tidemarklocaldisklow',
  },
  // A dump that got its space back: the disk is no longer too full for this target.
  'tidemark.backup.dumped': { what: 'backup dumped', resolves: ['tidemark.storage.low_disk'] },
  // Keyed by why: an RTO breach and a failed assertion are different conditions of the same target.
  'tidemark.drill.failed': {
    what: 'restore drill failed',
    code: (data) => data.error?.code ?? (drillBreached(data) ? 'rto-breached' : 'check-failed'),
    runbook: 'tidemarkdrillfailed',
  },
  'tidemark.drill.completed': { what: 'restore drill passed', resolves: ['tidemark.drill.failed'] },
  // Keyed by the channel that failed: a dead webhook is told once per repeatAfter, not once per event.
  'tidemark.notification.failed': {
    what: 'notification failed',
    code: (data) => (typeof data['channel'] === 'string' ? data['channel'] : 'unknown'),
    runbook: 'tidemarknotificationfailed',
  },
};

/** What one event does to conditions. */
export type EventCondition =
  | { role: 'raise'; key: string; type: EventType; code: string }
  | { role: 'resolve'; resolves: readonly EventType[] }
  | { role: 'fact' };

/** The key of a condition: target + type + code (also the channels' dedup key, e.g. PagerDuty's). */
export function conditionKey(targetId: string, type: string, code: string): string {
  return `tidemark/${targetId}/${type}/${code}`;
}

export function conditionOf(event: TidemarkEvent): EventCondition {
  const spec = CONDITIONS[event.type];
  if (!spec) return { role: 'fact' };
  if (spec.recovers?.(event.data) || (spec.resolves && !spec.code))
    return { role: 'resolve', resolves: spec.resolves ?? [] };
  if (!spec.code) return { role: 'fact' };
  const code = spec.code(event.data);
  return { role: 'raise', key: conditionKey(event.data.targetId, event.type, code), type: event.type, code };
}
