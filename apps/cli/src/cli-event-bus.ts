import {
  createEventBus,
  type EventBus,
  type EventHandler,
  type FollowOptions,
  type HistoryOptions,
  type StoredEvent,
  type TidemarkEvent,
  type WarnLogger,
} from '@tidemark/events';
import { describeRedis, redisConnection, redisUrl } from '@tidemark/queues';

/** Fails with one clear line when Redis does not answer, instead of hanging in reconnect loops. */
export async function assertRedisReachable(env: NodeJS.ProcessEnv): Promise<void> {
  const client = redisConnection(redisUrl(env), {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch {
    throw new Error(`Redis at ${describeRedis(redisUrl(env))} is unreachable (set REDIS_URL)`);
  } finally {
    await client.quit().catch(() => undefined);
  }
}

/**
 * The CLI's event bus: Service Bus when configured, else the Redis Stream, opened on first use (so a command
 * that publishes nothing never touches Redis) after one reachability check. The CLI does not forward the
 * outbox: the services do.
 */
export class CliEventBus implements EventBus {
  private opened: Promise<EventBus> | undefined;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly redisReachable: () => Promise<void>,
  ) {}

  private open(): Promise<EventBus> {
    this.opened ??= this.redisReachable().then(() => createEventBus(this.env, { forward: false }));
    return this.opened;
  }

  async publish(event: TidemarkEvent): Promise<void> {
    await (await this.open()).publish(event);
  }

  async history(options?: HistoryOptions): Promise<StoredEvent[]> {
    return (await this.open()).history(options);
  }

  async *follow(options: FollowOptions): AsyncIterable<StoredEvent> {
    yield* (await this.open()).follow(options);
  }

  async consume(group: string, consumer: string, handler: EventHandler, signal: AbortSignal): Promise<void> {
    await (await this.open()).consume(group, consumer, handler, signal);
  }

  async close(): Promise<void> {
    const bus = await this.opened?.catch(() => undefined);
    await bus?.close();
  }
}

/** What the CLI says when an event it publishes (a restore's, a trigger's) could not be: one line, never a failure. */
export function publishFailureLine(json: boolean): WarnLogger {
  return {
    warn: (obj) => {
      const { type } = obj as { type?: string };
      if (!json) console.error(`tidemark: could not publish ${type ?? 'an event'} (event bus unreachable)`);
    },
  };
}
