import type { Severity } from '@tidemark/events';

/*
 * The contract of @tidemark/notification-channels (built in parallel): what the notifier hands a channel and what
 * it gets back. Replaced by that lib's own types once it is merged.
 */
export type NotificationSeverity = Severity;
export type NotificationKind = 'raise' | 'repeat' | 'resolve' | 'digest' | 'test';

export interface Notification {
  id: string;
  kind: NotificationKind;
  /** The condition's key: a repeat and its resolve carry the raise's (PagerDuty's dedup_key). */
  dedupKey: string;
  severity: NotificationSeverity;
  title: string;
  summary: string;
  targetId?: string;
  eventType?: string;
  occurredAt: string;
  facts: { label: string; value: string }[];
  commands: string[];
  links: { label: string; url: string }[];
  event?: unknown;
}

export interface DeliveryResult {
  ok: boolean;
  status?: number;
  attempts: number;
  detail: string;
}

export interface Channel {
  readonly name: string;
  readonly kind: string;
  send(notification: Notification, opts?: { signal?: AbortSignal }): Promise<DeliveryResult>;
}

/** `notifications:` of the config (libs/policy's schema, the channels helper's). */
export interface NotificationRoute {
  match: { severity?: readonly Severity[]; targets?: readonly string[]; types?: readonly string[] };
  channels: readonly string[];
  digest?: 'daily' | 'weekly';
  repeatAfter?: string;
}

export interface NotificationsSettings {
  channels: Readonly<Record<string, { type: string }>>;
  routes: readonly NotificationRoute[];
  repeatAfter?: string;
  dashboardUrl?: string;
  digestTime?: string;
}
