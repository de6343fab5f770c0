import 'reflect-metadata';
import { bootstrapService } from '@tidemark/observability';
import { VerifierModule } from './verifier.module';

void bootstrapService(VerifierModule, { service: 'verifier', defaultPort: 3003 });
