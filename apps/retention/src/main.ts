import 'reflect-metadata';
import { bootstrapService } from '@tidemark/observability';
import { RetentionModule } from './retention.module';

void bootstrapService(RetentionModule, { service: 'retention', defaultPort: 3004 });
