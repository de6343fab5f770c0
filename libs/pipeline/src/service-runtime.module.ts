import { type DynamicModule, Module } from '@nestjs/common';
import { ApiAuthModule } from '@tidemark/api-auth';
import { CatalogModule } from '@tidemark/catalog';
import { ConfigModule } from '@tidemark/config';
import { EventsModule } from '@tidemark/events';
import { ObservabilityModule } from '@tidemark/observability';
import { QueuesModule } from '@tidemark/queues';
import { StorageModule } from '@tidemark/storage';
import { PipelineModule } from './pipeline.module';

/**
 * What every Tidemark service runs on: config, logs/metrics/health, queues, events, Blob Storage and the catalog,
 * the pipeline's next-step rules, and the bearer-token check of every HTTP route but the probes (`api:`). Each app adds its own processors on top. A Redis that may evict keys is
 * refused at start, before any queue connects (QueuesModule).
 */
@Module({})
export class ServiceRuntimeModule {
  static forService(service: string): DynamicModule {
    return {
      module: ServiceRuntimeModule,
      imports: [
        ConfigModule.forRoot({ service }),
        ObservabilityModule.forService({ service }),
        ApiAuthModule,
        QueuesModule,
        EventsModule.forRoot({ source: service }),
        StorageModule,
        CatalogModule,
        PipelineModule,
      ],
      exports: [PipelineModule],
    };
  }
}
