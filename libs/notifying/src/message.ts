import type { TidemarkEvent } from '@tidemark/events';
import type { Notification } from './channel-contract';
import { CONDITIONS } from './conditions';
import type { Delivery } from './plan';

/** The newest verified backup of a target, as the catalog has it. */
export interface LastVerified {
  backupId: string;
  verifiedAt: string;
}

/** Reads the catalog (Blob Storage) for the newest verified backup; null when there is none. */
export interface LastVerifiedLookup {
  lastVerified(targetId: string): Promise<LastVerified | null>;
}

export const RUNBOOKS_FILE = 'deploy/runbooks.md';

export interface MessageContext {
  lastVerified: LastVerified | null;
  dashboardUrl?: string | undefined;
  now: Date;
}

/** `3 d 4 h`, `2 h 5 min`, `40 s`: an age a person reads at a glance. */
export function humanAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

function stringField(data: Record<string, unknown>, name: string): string | undefined {
  const value = data[name];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** The commands a person runs next, exactly as typed. */
export function commandsFor(event: TidemarkEvent): string[] {
  const { targetId, backupId } = event.data;
  const commands = [`tidemark events --target ${targetId}`];
  if (backupId) commands.push(`tidemark show ${backupId}`);
  if (event.type.startsWith('tidemark.drill.')) commands.push(`tidemark drills ${targetId}`);
  else if (event.type.startsWith('tidemark.wal.')) commands.push('tidemark targets');
  else if (event.type.startsWith('tidemark.backup.') || event.type === 'tidemark.storage.low_disk')
    commands.push(`tidemark backup ${targetId} --wait`);
  else commands.push(`tidemark list ${targetId}`);
  return commands;
}

/** A drill's achieved RTO against its target and each check that did not hold, expected against found. */
function drillFacts(data: Record<string, unknown>): { label: string; value: string }[] {
  const lines: { label: string; value: string }[] = [];
  const rto = data['rto'] as { seconds?: unknown; targetSeconds?: unknown } | undefined;
  if (typeof rto?.seconds === 'number' && typeof rto.targetSeconds === 'number')
    lines.push({ label: 'RTO', value: `${Math.round(rto.seconds)} s (target ${rto.targetSeconds} s)` });
  const failed = Array.isArray(data['failed']) ? (data['failed'] as unknown[]) : [];
  for (const check of failed.slice(0, 5)) {
    const { name, expected, actual } = check as { name?: unknown; expected?: unknown; actual?: unknown };
    if (typeof name !== 'string') continue;
    lines.push({
      label: `Failed: ${name}`,
      value: `expected ${typeof expected === 'string' ? expected : '?'}, got ${typeof actual === 'string' ? actual : '?'}`,
    });
  }
  return lines;
}

function facts(event: TidemarkEvent, delivery: Delivery, context: MessageContext) {
  const data = event.data;
  const list: { label: string; value: string }[] = [{ label: 'Target', value: data.targetId }];
  const add = (label: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') list.push({ label, value });
  };
  add('Backup', data.backupId);
  add('Stage', data.stage);
  add('Error code', data.error?.code);
  add('Error', data.error?.message);
  add('Attempts', stringField(data, 'attempts'));
  for (const line of drillFacts(data)) add(line.label, line.value);
  add('Channel', stringField(data, 'channel'));
  add('When', event.time);
  if (delivery.condition && delivery.kind !== 'raise') {
    add('Open since', delivery.condition.raisedAt);
    add('Occurrences', String(delivery.condition.count));
  }
  const last = context.lastVerified;
  add(
    'Last verified backup',
    last ? `${last.backupId} (${humanAge(context.now.getTime() - Date.parse(last.verifiedAt))} ago)` : 'none',
  );
  const runbook = CONDITIONS[event.type]?.runbook;
  if (runbook) add('Runbook', `${RUNBOOKS_FILE}#${runbook}`);
  return list;
}

function titleOf(event: TidemarkEvent, delivery: Delivery): string {
  const target = event.data.targetId;
  if (delivery.kind === 'resolve') {
    const raised = delivery.condition ? CONDITIONS[delivery.condition.type]?.what : undefined;
    return `Resolved: ${target} ${raised ?? 'problem'} (${delivery.condition?.code ?? ''})`.replace(
      ' ()',
      '',
    );
  }
  const what = CONDITIONS[event.type]?.what ?? event.type.replace(/^tidemark\./, '');
  const stage = event.data.stage ? ` at ${event.data.stage}` : '';
  const code = event.data.error?.code ? ` (${event.data.error.code})` : '';
  return `${delivery.kind === 'repeat' ? 'Still: ' : ''}${target}: ${what}${stage}${code}`;
}

function summaryOf(event: TidemarkEvent, delivery: Delivery): string {
  if (delivery.kind === 'resolve')
    return `${event.type.replace(/^tidemark\./, '')} of ${event.data.targetId} at ${event.time} resolves it.`;
  return event.data.error?.message ?? `${event.type} for ${event.data.targetId}`;
}

/** The message for one delivery of `event`: everything a person needs to act, no secret (events carry none). */
export function buildNotification(
  event: TidemarkEvent,
  delivery: Delivery,
  context: MessageContext,
): Notification {
  const links = context.dashboardUrl ? [{ label: 'Dashboard', url: context.dashboardUrl }] : [];
  return {
    id: `${event.id}:${delivery.channel}`,
    kind: delivery.kind,
    dedupKey: delivery.dedupKey,
    severity: delivery.kind === 'resolve' ? 'info' : event.severity,
    title: titleOf(event, delivery),
    summary: summaryOf(event, delivery),
    targetId: event.data.targetId,
    eventType: event.type,
    occurredAt: event.time,
    facts: facts(event, delivery, context),
    commands: commandsFor(event),
    links,
    event,
  };
}
