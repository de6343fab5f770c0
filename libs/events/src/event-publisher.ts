import { createEvent, type TypedEvent } from './event';
import type { EventBus } from './event-bus';
import { parseEventDetails, type EventDetails, type EventType, type Severity } from './event-types';
import { errorData } from '@tidemark/redaction';
import type { WarnLogger } from './redis-stream-event-bus';

/** Creates and publishes the events of one service. */
export class EventPublisher {
  constructor(
    private readonly bus: EventBus,
    private readonly source: string,
    private readonly logger?: WarnLogger,
  ) {}

  /**
   * Publishes an event of `type` with exactly its data (EVENTS in event-types.ts; the compiler checks the fields).
   * Never throws: publishing must never fail a backup, so a failure is logged and the event returned anyway. Data
   * that does not match its schema (a caller that cast around the types) is logged and published all the same.
   */
  async emit<T extends EventType>(
    type: T,
    targetId: string,
    backupId: string | undefined,
    data: EventDetails<T>,
    severity?: Severity,
  ): Promise<TypedEvent<T>> {
    const event = createEvent({ type, source: this.source, targetId, backupId, data, severity });
    try {
      parseEventDetails(type, data);
    } catch (error) {
      this.warn(
        { eventId: event.id, type, targetId, backupId, error: errorData(error) },
        'event data invalid',
      );
    }
    try {
      await this.bus.publish(event);
    } catch (error) {
      this.warn(
        { eventId: event.id, type, targetId, backupId, error: errorData(error) },
        'event publish failed',
      );
    }
    // The data is T's: typed so by the caller, and checked above.
    return event as TypedEvent<T>;
  }

  private warn(obj: object, msg: string): void {
    try {
      this.logger?.warn(obj, msg);
    } catch {
      // A broken logger must not turn into a failed backup either.
    }
  }
}
