import { type DynamicModule, Module } from '@nestjs/common';
import { CatalogModule } from '@tidemark/catalog';
import { ConfigModule } from '@tidemark/config';
import { EventsModule } from '@tidemark/events';
import { ObservabilityModule } from '@tidemark/observability';
import { QueuesModule } from '@tidemark/queues';
import { StorageModule } from '@tidemark/storage';
import { PipelineModule } from './pipeline.module';

/**
 * What every Tidemark service runs on: config, logs/metrics/health, queues, events, Blob Storage and the catalog,
 * and the pipeline's next-step rules. Each app adds its own processors on top. A Redis that may evict keys is
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
