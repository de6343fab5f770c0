export { ApiAuthModule, requireTokenBeforeRoutes } from './api-auth.module';
export { ApiAuthGuard, AuthFailureFilter, Caller, type AuthenticatedRequest } from './api-auth.guard';
export { ApiAuthenticator } from './authenticator';
export { AuthFailure } from './auth-failure';
export { hashApiKey, matchApiKey } from './api-keys';
export { entraEndpoints, EntraVerifier } from './entra-verifier';
export { assertSafeBinding, isLoopback } from './binding';
export { describePrincipal, type Principal } from './principal';
