import 'reflect-metadata';
import { bootstrapService } from '@tidemark/observability';
import { NotifierAppModule } from './notifier.module';

void bootstrapService(NotifierAppModule, { service: 'notifier', defaultPort: 3006 });
