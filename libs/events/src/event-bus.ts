import type { TidemarkEvent } from './event';

/** An event as stored in the stream, with its stream id (usable as `follow({ from })`). */
export interface StoredEvent {
  id: string;
  event: TidemarkEvent;
}

export interface HistoryOptions {
  targetId?: string;
  backupId?: string;
  /** The newest `limit` matching events (default 100), returned oldest first. */
  limit?: number;
}

export interface FollowOptions {
  /** Stream id to read after; default '$' = only events published from now on. */
  from?: string;
  signal: AbortSignal;
}

export type EventHandler = (event: TidemarkEvent) => Promise<void>;

export interface EventBus {
  publish(event: TidemarkEvent): Promise<void>;
  /** Publishes several events in order in fewer round trips; optional, callers fall back to `publish`. */
  publishBatch?(events: readonly TidemarkEvent[]): Promise<void>;
  history(options?: HistoryOptions): Promise<StoredEvent[]>;
  follow(options: FollowOptions): AsyncIterable<StoredEvent>;
  /**
   * Delivers each event to one consumer of the group until `signal` aborts. An event is acknowledged after the
   * handler succeeds; a failed handler's event is redelivered once it has been pending for the claim idle time.
   */
  consume(group: string, consumer: string, handler: EventHandler, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
