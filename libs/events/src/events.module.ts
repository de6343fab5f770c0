import {
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { EventBus } from './event-bus';
import { EventPublisher } from './event-publisher';
import { createEventBus } from './create-event-bus';
import type { WarnLogger } from './redis-stream-event-bus';

/** Injection token of the service's `EventBus`. */
export const EVENT_BUS = Symbol('EVENT_BUS');

export interface EventsModuleOptions {
  /** The service name; events get `source: /tidemark/<source>`. */
  source: string;
}

// Nest's Logger takes (message, context): put the text into the object so a pino-backed logger keeps both.
function nestWarnLogger(context: string): WarnLogger {
  const logger = new Logger(context);
  return {
    warn: (obj, msg) => {
      logger.warn({ ...obj, msg });
    },
  };
}

@Injectable()
class EventBusCloser implements OnApplicationShutdown {
  constructor(@Inject(EVENT_BUS) private readonly bus: EventBus) {}

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}

@Module({})
export class EventsModule {
  static forRoot(options: EventsModuleOptions): DynamicModule {
    return {
      module: EventsModule,
      global: true,
      providers: [
        {
          provide: EVENT_BUS,
          // Service Bus (behind a Redis outbox) when configured, else the Redis Stream: see createEventBus.
          useFactory: (): EventBus => createEventBus(undefined, { logger: nestWarnLogger('EventBus') }),
        },
        {
          provide: EventPublisher,
          useFactory: (bus: EventBus) =>
            new EventPublisher(bus, options.source, nestWarnLogger('EventPublisher')),
          inject: [EVENT_BUS],
        },
        EventBusCloser,
      ],
      exports: [EVENT_BUS, EventPublisher],
    };
  }
}
