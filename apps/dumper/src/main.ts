import 'reflect-metadata';
import { bootstrapService } from '@tidemark/observability';
import { DumperModule } from './dumper.module';

void bootstrapService(DumperModule, { service: 'dumper', defaultPort: 3001 });
