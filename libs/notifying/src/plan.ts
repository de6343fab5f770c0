import type { EventType } from '@tidemark/events';
import type { NotificationKind } from './channel-contract';
import type { EventCondition } from './conditions';
import type { RoutedChannel } from './routing';

/**
 * A condition as one channel knows it. `lastEventId`/`lastKind` and `sentBy` make a redelivered event decide as it
 * did the first time (a crash between saving the state and sending would otherwise turn its raise into
 * "suppressed").
 */
export interface ConditionState {
  channel: string;
  key: string;
  type: EventType;
  code: string;
  raisedAt: string;
  lastSentAt: string;
  /** Events of this condition seen on this channel, sent or suppressed. */
  count: number;
  lastEventId: string;
  lastKind: 'raise' | 'repeat' | 'suppressed';
  /**
   * The events this condition was last sent for (at most {@link SENT_BY_KEPT}), so one that comes again after
   * later events were suppressed (its delivery died with a replica) is still delivered, not suppressed.
   */
  sentBy?: { eventId: string; kind: 'raise' | 'repeat' }[];
  /** Set once resolved: the resolving event (a tombstone, so a redelivered resolve is sent again, not lost). */
  resolvedBy?: string;
  resolvedAt?: string;
}

export interface Delivery {
  channel: string;
  kind: Extract<NotificationKind, 'raise' | 'repeat' | 'resolve'>;
  /** The condition's key, or the event's own for a plain fact. */
  dedupKey: string;
  /** The condition as it stands after this event (absent for a plain fact). */
  condition?: ConditionState;
}

export interface Plan {
  deliveries: Delivery[];
  /** Channels that already had the condition within repeatAfter. */
  suppressed: string[];
  /** States to write (in the target's condition set). */
  updates: ConditionState[];
}

export interface PlanInput {
  eventId: string;
  targetId: string;
  eventType: string;
  now: Date;
  condition: EventCondition;
  channels: readonly RoutedChannel[];
  /** Every condition of the event's target, open or resolved. */
  states: readonly ConditionState[];
}

export const SENT_BY_KEPT = 10;

function withSent(
  state: ConditionState,
  eventId: string,
  kind: 'raise' | 'repeat',
): { eventId: string; kind: 'raise' | 'repeat' }[] {
  return [...(state.sentBy ?? []), { eventId, kind }].slice(-SENT_BY_KEPT);
}

/** Tombstones of resolved conditions are kept this long (a redelivered resolve finds its own). */
export const RESOLVED_KEEP_MS = 7 * 86_400_000;

/** What one event sends where, and how the target's conditions change: the notifier's whole decision, pure. */
export function planDeliveries(input: PlanInput): Plan {
  switch (input.condition.role) {
    case 'raise':
      return planRaise(input, input.condition);
    case 'resolve':
      return planResolve(input, input.condition.resolves);
    case 'fact':
      return { deliveries: factDeliveries(input, new Set()), suppressed: [], updates: [] };
  }
}

function factDeliveries(input: PlanInput, skip: ReadonlySet<string>): Delivery[] {
  const dedupKey = `tidemark/${input.targetId}/${input.eventType}/${input.eventId}`;
  return input.channels
    .filter((c) => !skip.has(c.channel))
    .map((c) => ({ channel: c.channel, kind: 'raise' as const, dedupKey }));
}

function planRaise(input: PlanInput, condition: Extract<EventCondition, { role: 'raise' }>): Plan {
  const plan: Plan = { deliveries: [], suppressed: [], updates: [] };
  const now = input.now.toISOString();
  for (const { channel, repeatAfterMs } of input.channels) {
    const state = input.states.find((s) => s.channel === channel && s.key === condition.key);
    const open = state && state.resolvedBy === undefined ? state : undefined;
    let next: ConditionState;
    const sent = open?.sentBy?.find((s) => s.eventId === input.eventId);
    if (sent && open) {
      // Decided before: the same again (the delivery claim says whether it still has to go out).
      plan.deliveries.push({ channel, kind: sent.kind, dedupKey: condition.key, condition: open });
      continue;
    }
    if (open?.lastEventId === input.eventId) next = open;
    else if (!open) {
      next = {
        channel,
        key: condition.key,
        type: condition.type,
        code: condition.code,
        raisedAt: now,
        lastSentAt: now,
        count: 1,
        lastEventId: input.eventId,
        lastKind: 'raise',
      };
      next.sentBy = withSent(next, input.eventId, 'raise');
    } else {
      const due = input.now.getTime() - Date.parse(open.lastSentAt) >= repeatAfterMs;
      next = {
        ...open,
        count: open.count + 1,
        lastEventId: input.eventId,
        lastKind: due ? 'repeat' : 'suppressed',
        lastSentAt: due ? now : open.lastSentAt,
        ...(due && { sentBy: withSent(open, input.eventId, 'repeat') }),
      };
    }
    if (next !== open) plan.updates.push(next);
    if (next.lastKind === 'suppressed') plan.suppressed.push(channel);
    else plan.deliveries.push({ channel, kind: next.lastKind, dedupKey: condition.key, condition: next });
  }
  return plan;
}

function planResolve(input: PlanInput, resolves: readonly EventType[]): Plan {
  const plan: Plan = { deliveries: [], suppressed: [], updates: [] };
  const now = input.now.toISOString();
  for (const state of input.states) {
    if (!resolves.includes(state.type)) continue;
    if (state.resolvedBy === undefined) {
      const resolved = { ...state, resolvedBy: input.eventId, resolvedAt: now };
      plan.updates.push(resolved);
      plan.deliveries.push({
        channel: state.channel,
        kind: 'resolve',
        dedupKey: state.key,
        condition: resolved,
      });
    } else if (state.resolvedBy === input.eventId)
      plan.deliveries.push({
        channel: state.channel,
        kind: 'resolve',
        dedupKey: state.key,
        condition: state,
      });
  }
  // The recovery is also a fact its own routes may ask for; a channel just told "resolved" is not told twice.
  const resolvedOn = new Set(plan.deliveries.map((d) => d.channel));
  plan.deliveries.push(...factDeliveries(input, resolvedOn));
  return plan;
}

/** Resolved conditions older than {@link RESOLVED_KEEP_MS}: what a store may forget. */
export function isExpiredTombstone(state: ConditionState, now: Date): boolean {
  return state.resolvedAt !== undefined && now.getTime() - Date.parse(state.resolvedAt) > RESOLVED_KEEP_MS;
}
