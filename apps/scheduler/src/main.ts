import 'reflect-metadata';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { bootstrapService } from '@tidemark/observability';
import { useProblemDetailsForBodies } from './problem-details';
import { SchedulerModule } from './scheduler.module';

void bootstrapService(SchedulerModule, {
  service: 'scheduler',
  defaultPort: 3000,
  configure: (app) => {
    useProblemDetailsForBodies(app);
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('Tidemark scheduler')
        .setDescription('Targets and on-demand backups')
        .setVersion('1')
        .build(),
    );
    SwaggerModule.setup('docs', app, document);
  },
});
