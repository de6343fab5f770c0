import { Global, Module, type INestApplication } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { environment } from '@tidemark/environment';
import {
  ApiAuthGuard,
  authenticateRequest,
  AuthFailureFilter,
  type AuthenticatedRequest,
} from './api-auth.guard';
import { AuthFailure } from './auth-failure';
import { ApiAuthenticator } from './authenticator';
import { assertSafeBinding } from './binding';
import { sendRefusal, type RefusalResponse } from './problem-response';

/**
 * Every route of the service's HTTP app checked against `api:` of the config (ApiAuthGuard); a service that would
 * answer unauthenticated callers on a non-loopback HOST does not start.
 */
@Global()
@Module({
  providers: [
    {
      provide: ApiAuthenticator,
      useFactory: (config: LoadedConfig) => {
        assertSafeBinding(config.api, environment().HOST);
        return new ApiAuthenticator(config.api);
      },
      inject: [TIDEMARK_CONFIG],
    },
    { provide: APP_GUARD, useClass: ApiAuthGuard },
    { provide: APP_FILTER, useClass: AuthFailureFilter },
  ],
  exports: [ApiAuthenticator],
})
export class ApiAuthModule {}

/**
 * The same check in front of everything Express serves, installed before any other middleware: routes Nest does
 * not own (the OpenAPI page at /docs) are covered, and no request body is read for a caller without a token.
 */
export function requireTokenBeforeRoutes(app: INestApplication): void {
  const authenticator = app.get(ApiAuthenticator);
  app.use((request: AuthenticatedRequest, response: RefusalResponse, next: (error?: unknown) => void) => {
    authenticateRequest(authenticator, request).then(
      () => {
        next();
      },
      (error: unknown) => {
        if (error instanceof AuthFailure) sendRefusal(response, error, request.url);
        else next(error);
      },
    );
  });
}
