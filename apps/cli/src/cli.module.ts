import { Global, Module, type DynamicModule } from '@nestjs/common';
import { CatalogModule } from '@tidemark/catalog';
import { ConfigModule } from '@tidemark/config';
import { EVENT_BUS, EventPublisher, type EventBus } from '@tidemark/events';
import { MetricsModule } from '@tidemark/observability';
import { PipelineModule } from '@tidemark/pipeline';
import { QueuesModule } from '@tidemark/queues';
import { RestoreModule } from '@tidemark/restore';
import { RetentionApplyModule, RetentionPlanModule } from '@tidemark/retention';
import { BlobStorageModule } from '@tidemark/storage';
import { publishFailureLine } from './cli-event-bus';

export interface CliModuleOptions {
  /** `--config`; without it the config module's own default ($TIDEMARK_CONFIG or ./tidemark.yaml). */
  configPath?: string;
  /** The CLI's environment, with local Azurite filled in when no Azure account is configured. */
  env: NodeJS.ProcessEnv;
  /** One bus for the whole CLI process, opened on first use (see CliEventBus). */
  bus: EventBus;
  /** `--json`: the output is JSON only, so a lost event is not reported on stderr. */
  json: boolean;
}

/** The CLI's events: its own lazy bus (no outbox forwarding), published as source `cli`. */
@Global()
@Module({})
class CliEventsModule {
  static forRoot({ bus, json }: CliModuleOptions): DynamicModule {
    return {
      module: CliEventsModule,
      providers: [
        { provide: EVENT_BUS, useValue: bus },
        {
          provide: EventPublisher,
          useFactory: () => new EventPublisher(bus, 'cli', publishFailureLine(json)),
        },
      ],
      exports: [EVENT_BUS, EventPublisher],
    };
  }
}

/**
 * What the commands that need only Blob Storage run on (list, show, pin, retention plan, restore): config,
 * storage, catalog, restore and the retention planner. Nothing here connects to Redis at start.
 */
@Module({})
export class CliStorageModule {
  static forRoot(options: CliModuleOptions): DynamicModule {
    return {
      module: CliStorageModule,
      imports: [
        ConfigModule.forRoot({
          ...(options.configPath ? { path: options.configPath } : {}),
          env: options.env,
        }),
        BlobStorageModule,
        CatalogModule,
        CliEventsModule.forRoot(options),
        RetentionPlanModule,
        RestoreModule,
      ],
      exports: [RetentionPlanModule, RestoreModule],
    };
  }
}

/**
 * Everything the CLI triggers through Redis too (backup, verify, retention apply): the services' queues,
 * pipeline and retention, with no worker, scheduler, event consumer or HTTP server, so the process ends when
 * the command does. Built only after Redis answered (CliContext).
 */
@Module({})
export class CliServicesModule {
  static forRoot(options: CliModuleOptions): DynamicModule {
    return {
      module: CliServicesModule,
      imports: [
        CliStorageModule.forRoot(options),
        MetricsModule.forService({ service: 'cli' }),
        QueuesModule,
        PipelineModule,
        RetentionApplyModule,
      ],
    };
  }
}
