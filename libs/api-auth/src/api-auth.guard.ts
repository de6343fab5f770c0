import {
  Catch,
  createParamDecorator,
  Inject,
  Injectable,
  type ArgumentsHost,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
} from '@nestjs/common';
import { AuthFailure } from './auth-failure';
import { ApiAuthenticator } from './authenticator';
import type { Principal } from './principal';
import { sendRefusal, type RefusalResponse } from './problem-response';

/** The request fields the guard reads and the principal it leaves for the handler. */
export interface AuthenticatedRequest {
  path?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
}

/** Checks the caller of every route of a service's HTTP app (but the open probes) against `api.auth`. */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  constructor(@Inject(ApiAuthenticator) private readonly authenticator: ApiAuthenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    await authenticateRequest(this.authenticator, request);
    return true;
  }
}

/** Sets `request.principal` (once: the middleware in front of non-Nest routes may have done it), or throws. */
export async function authenticateRequest(
  authenticator: ApiAuthenticator,
  request: AuthenticatedRequest,
): Promise<void> {
  if (request.principal !== undefined) return;
  const path = request.path ?? (request.url ?? '/').split('?')[0] ?? '/';
  if (authenticator.isOpen(path)) return;
  const header = request.headers['authorization'];
  request.principal = await authenticator.authenticate(Array.isArray(header) ? header[0] : header);
}

/** Refusals as problem details with their challenge, whatever other filters the app has. */
@Catch(AuthFailure)
export class AuthFailureFilter implements ExceptionFilter {
  catch(failure: AuthFailure, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendRefusal(http.getResponse<RefusalResponse>(), failure, http.getRequest<{ url?: string }>().url);
  }
}

/** The caller of a guarded route: `@Caller() caller: Principal`. Anonymous when nothing is enforced. */
export const Caller = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().principal ?? { kind: 'anonymous' },
);
