import 'reflect-metadata';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { requireTokenBeforeRoutes } from '@tidemark/api-auth';
import { bootstrapService } from '@tidemark/observability';
import { useProblemDetailsForBodies } from '@tidemark/http-problems';
import { SchedulerModule } from './scheduler.module';

void bootstrapService(SchedulerModule, {
  service: 'scheduler',
  defaultPort: 3000,
  configure: (app) => {
    // First: /docs is served outside Nest's routes, and no body is read before the caller is known.
    requireTokenBeforeRoutes(app);
    useProblemDetailsForBodies(app);
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('Tidemark scheduler')
        .setDescription('Targets and on-demand backups')
        .setVersion('1')
        .addBearerAuth({
          type: 'http',
          scheme: 'bearer',
          description: 'an API key or an Entra ID access token',
        })
        .addSecurityRequirements('bearer')
        .build(),
    );
    SwaggerModule.setup('docs', app, document);
  },
});
