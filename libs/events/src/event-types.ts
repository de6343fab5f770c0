/** The event types of DESIGN §6; the order is the order of a backup's life, then the others. */
export const EVENT_TYPES = [
  'tidemark.backup.requested',
  'tidemark.backup.dumped',
  'tidemark.backup.uploaded',
  'tidemark.backup.verified',
  'tidemark.backup.failed',
  'tidemark.backup.corrupt',
  'tidemark.backup.overdue',
  'tidemark.retention.applied',
  'tidemark.restore.completed',
  'tidemark.restore.failed',
  'tidemark.storage.low_disk',
  'tidemark.schedule.restored',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;

export type Severity = (typeof SEVERITIES)[number];

export const DEFAULT_SEVERITY: Readonly<Record<EventType, Severity>> = {
  'tidemark.backup.requested': 'info',
  'tidemark.backup.dumped': 'info',
  'tidemark.backup.uploaded': 'info',
  'tidemark.backup.verified': 'info',
  'tidemark.backup.failed': 'error',
  'tidemark.backup.corrupt': 'critical',
  'tidemark.backup.overdue': 'warning',
  'tidemark.retention.applied': 'info',
  'tidemark.restore.completed': 'info',
  'tidemark.restore.failed': 'error',
  'tidemark.storage.low_disk': 'warning',
  'tidemark.schedule.restored': 'warning',
};

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}
