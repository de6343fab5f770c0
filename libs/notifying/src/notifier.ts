import { errorData, redact, type TidemarkEvent } from '@tidemark/events';
import type { Channel, DeliveryResult, Notification, NotificationsSettings } from './channel-contract';
import { conditionOf } from './conditions';
import { buildDigest, digestEntryOf } from './digest';
import { buildNotification, type LastVerified, type LastVerifiedLookup } from './message';
import type { ConditionStore, DeliveryClaims, DigestStore } from './notifier-state';
import { isExpiredTombstone, planDeliveries, type Delivery } from './plan';
import { routeEvent } from './routing';

/** A webhook URL is the secret itself (Slack's, Teams'): no reason that leaves the notifier names one. */
export function withoutUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>');
}

export type NotificationResult = 'sent' | 'failed' | 'suppressed';

/** What `tidemark.notification.failed` carries (EVENTS in libs/events): names and numbers, never a URL or key. */
export interface NotificationFailure {
  channel: string;
  channelKind: string;
  notificationId: string;
  dedupKey: string;
  attempts: number;
  status: number | null;
  reason: string;
}

export interface NotifierLogger {
  log(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface NotifierDeps {
  settings: NotificationsSettings;
  channels: ReadonlyMap<string, Channel>;
  conditions: ConditionStore;
  claims: DeliveryClaims;
  digests: DigestStore;
  lastVerified: LastVerifiedLookup;
  /** Publishes `tidemark.notification.failed` for the event's target. */
  publishFailure(event: TidemarkEvent, failure: NotificationFailure): Promise<void>;
  /** `tidemark_notifications_total{channel,result}`. */
  count(channel: string, result: NotificationResult): void;
  /** This process (claims and locks name it). */
  owner: string;
  now?: () => Date;
  logger?: NotifierLogger;
  /** For digests: the recovery window of each physical target, e.g. `2026-12-01T02:00Z → 2026-12-08T01:59Z`. */
  recoveryWindows?: () => Promise<ReadonlyMap<string, string>>;
}

/** What one event did, per channel (for logs and tests). */
export interface HandledEvent {
  sent: string[];
  failed: string[];
  suppressed: string[];
  /** Delivered before (a redelivered event). */
  skipped: string[];
  digests: number[];
}

/** Another replica is delivering this event to a channel: the event is to come again and find it done. */
export class DeliveryBusyError extends Error {
  override readonly name = 'DeliveryBusyError';
}

/**
 * From an event to the people's channels: routes it, raises, repeats or resolves its condition on each channel,
 * collects it for digests, and delivers each (event, channel) once across replicas and redeliveries.
 */
export class Notifier {
  private readonly now: () => Date;

  constructor(private readonly deps: NotifierDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async handle(event: TidemarkEvent): Promise<HandledEvent> {
    const { settings, conditions, digests } = this.deps;
    const routed = routeEvent(settings, event);
    for (const route of routed.digests) await digests.add(route, digestEntryOf(event));
    const condition = conditionOf(event);
    const handled: HandledEvent = {
      sent: [],
      failed: [],
      suppressed: [],
      skipped: [],
      digests: routed.digests,
    };
    if (condition.role !== 'resolve' && routed.channels.length === 0) return handled;
    const now = this.now();
    const plan = await conditions.change(event.data.targetId, (states) => {
      const planned = planDeliveries({
        eventId: event.id,
        targetId: event.data.targetId,
        eventType: event.type,
        now,
        condition,
        channels: routed.channels,
        states,
      });
      return {
        result: planned,
        write: planned.updates,
        forget: states.filter((s) => isExpiredTombstone(s, now)),
      };
    });
    for (const channel of plan.suppressed) {
      this.deps.count(channel, 'suppressed');
      handled.suppressed.push(channel);
    }
    if (plan.deliveries.length === 0) return handled;
    const lastVerified = await this.lookupLastVerified(event.data.targetId);
    const outcomes = await Promise.allSettled(
      plan.deliveries.map(async (delivery) => {
        const outcome = await this.deliver(event, delivery, lastVerified, now);
        handled[outcome].push(delivery.channel);
      }),
    );
    const rejected = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (rejected) throw rejected.reason;
    return handled;
  }

  /** Sends route `route`'s digest of run `runId` (a job scheduler's job id), once per channel. */
  async sendDigest(route: number, runId: string): Promise<HandledEvent> {
    const spec = this.deps.settings.routes[route];
    const handled: HandledEvent = { sent: [], failed: [], suppressed: [], skipped: [], digests: [route] };
    if (!spec?.digest) return handled;
    const entries = await this.deps.digests.take(route, runId);
    const windows = await this.recoveryWindows();
    const notification = buildDigest({
      id: `digest-${route}-${runId}`,
      period: spec.digest,
      entries,
      recoveryWindows: windows,
      now: this.now(),
      dashboardUrl: this.deps.settings.dashboardUrl,
    });
    for (const channel of new Set(spec.channels)) {
      const outcome = await this.sendOnce(notification.id, channel, notification, null);
      handled[outcome].push(channel);
    }
    await this.deps.digests.finish(route, runId);
    return handled;
  }

  private async deliver(
    event: TidemarkEvent,
    delivery: Delivery,
    lastVerified: LastVerified | null,
    now: Date,
  ): Promise<'sent' | 'failed' | 'skipped'> {
    const notification = buildNotification(event, delivery, {
      lastVerified,
      dashboardUrl: this.deps.settings.dashboardUrl,
      now,
    });
    return this.sendOnce(event.id, delivery.channel, notification, event);
  }

  /** Claims (id, channel), sends, records the result; `event` null: a digest (its failure is logged only). */
  private async sendOnce(
    id: string,
    channelName: string,
    notification: Notification,
    event: TidemarkEvent | null,
  ): Promise<'sent' | 'failed' | 'skipped'> {
    const { claims, owner } = this.deps;
    const claim = await claims.claim(id, channelName, owner);
    if (claim === 'done') return 'skipped';
    if (claim === 'busy')
      throw new DeliveryBusyError(`${channelName}: ${id} is being delivered by another replica`);
    const channel = this.deps.channels.get(channelName);
    let result: DeliveryResult;
    try {
      result = channel
        ? await channel.send(notification)
        : { ok: false, attempts: 0, detail: `no channel "${channelName}" is configured` };
    } catch (error) {
      // Not a delivery result but a fault here: let go so the event's redelivery tries again.
      await claims.release(id, channelName, owner);
      throw error;
    }
    await claims.done(id, channelName);
    const detail = withoutUrls(redact(result.detail));
    if (result.ok) {
      this.deps.count(channelName, 'sent');
      this.deps.logger?.log(
        {
          channel: channelName,
          notification: notification.id,
          kind: notification.kind,
          attempts: result.attempts,
        },
        'notification sent',
      );
      return 'sent';
    }
    this.deps.count(channelName, 'failed');
    const failure: NotificationFailure = {
      channel: channelName,
      channelKind: channel?.kind ?? 'unknown',
      notificationId: notification.id,
      dedupKey: notification.dedupKey,
      attempts: result.attempts,
      status: result.status ?? null,
      reason: detail,
    };
    this.deps.logger?.warn({ ...failure }, 'notification failed: gave up');
    // A failure to deliver a notification.failed is counted and logged only: two dead channels would otherwise
    // report each other's failures for ever.
    if (event && event.type !== 'tidemark.notification.failed')
      await this.deps.publishFailure(event, failure);
    return 'failed';
  }

  private async lookupLastVerified(targetId: string): Promise<LastVerified | null> {
    try {
      return await this.deps.lastVerified.lastVerified(targetId);
    } catch (error) {
      this.deps.logger?.warn(
        { targetId, err: errorData(error) },
        'catalog unreadable: message without last verified backup',
      );
      return null;
    }
  }

  private async recoveryWindows(): Promise<ReadonlyMap<string, string>> {
    try {
      return (await this.deps.recoveryWindows?.()) ?? new Map();
    } catch (error) {
      this.deps.logger?.warn({ err: errorData(error) }, 'recovery windows unreadable: digest without them');
      return new Map();
    }
  }
}
