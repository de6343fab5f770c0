import 'reflect-metadata';
import { bootstrapService } from '@tidemark/observability';
import { UploaderModule } from './uploader.module';

void bootstrapService(UploaderModule, { service: 'uploader', defaultPort: 3002 });
