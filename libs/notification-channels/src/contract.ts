import type { ChannelKindRules, NotificationChannelConfig, NotificationSeverity } from '@tidemark/policy';
import type { z } from 'zod';

export type { NotificationSeverity };
export type NotificationKind = 'raise' | 'repeat' | 'resolve' | 'digest' | 'test';

/** One line of a notification's table (Adaptive Card FactSet, Slack fields, PagerDuty custom details). */
export interface NotificationFact {
  label: string;
  value: string;
}

/** What one channel is asked to tell a person; each kind renders it in its own format. */
export interface Notification {
  /** Stable per delivery attempt set: the idempotency key, and the webhook's notification id. */
  id: string;
  kind: NotificationKind;
  /** The condition's key (target + type + code); PagerDuty's dedup_key. */
  dedupKey: string;
  severity: NotificationSeverity;
  /** E.g. "orders-db: backup failed (dump-failed)". */
  title: string;
  /** One or two sentences a person can act on. */
  summary: string;
  targetId?: string;
  /** The CloudEvent type that caused it. */
  eventType?: string;
  /** ISO time. */
  occurredAt: string;
  facts: NotificationFact[];
  /** E.g. ["tidemark show <id>", "tidemark backup orders-db --wait"]. */
  commands: string[];
  /** Dashboard, runbook (deploy/runbooks.md#anchor). */
  links: { label: string; url: string }[];
  /** The original CloudEvent (JSON); the webhook forwards it. */
  event?: unknown;
}

/** What the channel answered. `detail` never holds a URL, key or password. */
export interface DeliveryResult {
  ok: boolean;
  /** The last HTTP status (or SMTP reply code), when there was an answer. */
  status?: number;
  attempts: number;
  detail: string;
}

export interface Channel {
  readonly name: string;
  readonly kind: string;
  send(notification: Notification, opts?: { signal?: AbortSignal }): Promise<DeliveryResult>;
}

/** How hard one send tries: attempts in all, the backoff between them, and each attempt's own limit. */
export interface DeliveryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
}

/** A channel as configured, its `${VAR}`s filled in from the environment (libs/config resolves them). */
export type ResolvedChannelConfig = NotificationChannelConfig;

export interface ChannelDeps {
  fetch?: typeof fetch;
  delivery?: Partial<DeliveryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  /** [0, 1), for the backoff's jitter; Math.random unless a test pins it. */
  random?: () => number;
}

/** Everything the dependencies resolve to, as a kind's `create` receives them. */
export interface ResolvedDeps {
  fetch: typeof fetch;
  delivery: DeliveryPolicy;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/**
 * One channel kind, declared once in its own file: its config keys (which of them are secrets) for the file
 * format, what its values must be once resolved, and how it sends.
 */
export interface ChannelKind extends ChannelKindRules {
  /**
   * The resolved settings (every key beside `type`); its messages say what is wrong without repeating the value,
   * which may be a secret.
   */
  resolved: z.ZodObject;
  create(name: string, config: ResolvedChannelConfig, deps: ResolvedDeps): Channel;
}
