import 'reflect-metadata';
import { bootstrapService } from '@tidemark/observability';
import { ArchiverModule } from './archiver.module';

void bootstrapService(ArchiverModule, { service: 'archiver', defaultPort: 3005 });
