import type { TidemarkEvent } from '@tidemark/events';
import type { Notification } from './channel-contract';
import type { DigestEntry } from './notifier-state';

export function digestEntryOf(event: TidemarkEvent): DigestEntry {
  const { targetId, backupId, sizes, error } = event.data;
  const size = sizes?.['compressed'];
  return {
    eventId: event.id,
    type: event.type,
    severity: event.severity,
    targetId,
    ...(backupId !== undefined && { backupId }),
    time: event.time,
    ...(size !== undefined && { size }),
    ...(error && { code: error.code, message: error.message }),
  };
}

export interface DigestInput {
  id: string;
  period: 'daily' | 'weekly';
  entries: readonly DigestEntry[];
  recoveryWindows: ReadonlyMap<string, string>;
  now: Date;
  dashboardUrl?: string | undefined;
}

/** `1.5 GiB`, `820 KiB`. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit] ?? 'B'}`;
}

const isProblem = (entry: DigestEntry): boolean =>
  entry.severity === 'error' || entry.severity === 'critical';

/** One summary of a digest route's period: verified backups and their sizes, failures, recovery windows. */
export function buildDigest(input: DigestInput): Notification {
  const verified = input.entries.filter((e) => e.type === 'tidemark.backup.verified');
  const failures = input.entries.filter(isProblem);
  const bytes = verified.reduce((sum, e) => sum + (e.size ?? 0), 0);
  const targets = [...new Set(input.entries.map((e) => e.targetId))].sort();
  const facts: { label: string; value: string }[] = [
    { label: 'Period', value: `${input.period}, until ${input.now.toISOString()}` },
    { label: 'Verified backups', value: `${verified.length} (${humanBytes(bytes)})` },
    { label: 'Failures', value: String(failures.length) },
  ];
  for (const targetId of targets) {
    const mine = verified.filter((e) => e.targetId === targetId);
    const newest = mine.at(-1);
    if (newest)
      facts.push({
        label: targetId,
        value: `${mine.length} verified, newest ${newest.backupId ?? '?'} (${humanBytes(newest.size ?? 0)})`,
      });
  }
  for (const failure of failures.slice(0, 20))
    facts.push({
      label: `${failure.targetId} ${failure.type.replace(/^tidemark\./, '')}`,
      value: `${failure.time}${failure.code ? ` ${failure.code}` : ''}${failure.message ? `: ${failure.message}` : ''}`,
    });
  for (const [targetId, window] of [...input.recoveryWindows].sort(([a], [b]) => a.localeCompare(b)))
    facts.push({ label: `${targetId} recovery window`, value: window });
  return {
    id: input.id,
    kind: 'digest',
    dedupKey: input.id,
    severity: failures.length > 0 ? 'warning' : 'info',
    title: `Tidemark ${input.period} digest: ${verified.length} verified, ${failures.length} failed`,
    summary:
      input.entries.length === 0
        ? 'No matching events in this period.'
        : `${input.entries.length} events across ${targets.length} targets.`,
    occurredAt: input.now.toISOString(),
    facts,
    commands: ['tidemark targets', 'tidemark list'],
    links: input.dashboardUrl ? [{ label: 'Dashboard', url: input.dashboardUrl }] : [],
  };
}
