import { createEvent, type EventDetails, type TidemarkEvent } from './event';
import type { EventBus } from './event-bus';
import type { EventType, Severity } from './event-types';
import { errorData } from '@tidemark/redaction';
import type { WarnLogger } from './redis-stream-event-bus';

/** Creates and publishes the events of one service. */
export class EventPublisher {
  constructor(
    private readonly bus: EventBus,
    private readonly source: string,
    private readonly logger?: WarnLogger,
  ) {}

  /** Never throws: publishing must never fail a backup, so a failure is logged and the event returned anyway. */
  async emit(
    type: EventType,
    targetId: string,
    backupId: string | undefined,
    data?: EventDetails,
    severity?: Severity,
  ): Promise<TidemarkEvent> {
    const event = createEvent({ type, source: this.source, targetId, backupId, data, severity });
    try {
      await this.bus.publish(event);
    } catch (error) {
      try {
        this.logger?.warn(
          { eventId: event.id, type, targetId, backupId, error: errorData(error) },
          'event publish failed',
        );
      } catch {
        // A broken logger must not turn into a failed backup either.
      }
    }
    return event;
  }
}
