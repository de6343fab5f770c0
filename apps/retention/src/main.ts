import 'reflect-metadata';
import { bootstrapService } from '@tidemark/observability';
import { RetentionAppModule } from './retention.module';

void bootstrapService(RetentionAppModule, { service: 'retention', defaultPort: 3004 });
