import type { ApiSettings } from '@tidemark/policy';
import { AuthFailure, missingCredentials } from './auth-failure';
import { matchApiKey } from './api-keys';
import { EntraVerifier } from './entra-verifier';
import type { Principal } from './principal';

// Three base64url segments: what a JWT looks like, so a token of that shape is not also tried as an API key name.
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const ANONYMOUS: Principal = { kind: 'anonymous' };

/** Which requests need a token, and who a token names: the rules of `api:` in the config. */
export class ApiAuthenticator {
  private readonly entra: EntraVerifier | undefined;

  constructor(private readonly api: ApiSettings) {
    const auth = api.auth;
    this.entra =
      auth !== undefined && auth !== 'none' && auth.entra ? new EntraVerifier(auth.entra) : undefined;
  }

  /** Whether any caller is checked at all (false: no `api.auth`, or `auth: none`). */
  get enforcing(): boolean {
    return this.api.auth !== undefined && this.api.auth !== 'none';
  }

  /** `/healthz` and `/readyz` always answer anyone, `/metrics` when `api.metrics` is open; the rest needs a token. */
  isOpen(path: string): boolean {
    const normalised = path.length > 1 ? path.replace(/\/+$/, '') : path;
    if (normalised === '/healthz' || normalised === '/readyz') return true;
    return normalised === '/metrics' && this.api.metrics === 'open';
  }

  /** The caller named by an Authorization header; throws an AuthFailure saying why not. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    const auth = this.api.auth;
    if (auth === undefined || auth === 'none') return ANONYMOUS;
    if (authorization === undefined || authorization.trim() === '') throw missingCredentials();
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1])
      throw new AuthFailure(401, 'the Authorization header must be "Bearer <token>"', 'invalid_request');
    const token = match[1];
    const key = matchApiKey(token, auth.apiKeys ?? []);
    if (key !== undefined) return { kind: 'api-key', name: key.name };
    if (this.entra !== undefined && JWT_SHAPE.test(token)) return this.entra.verify(token);
    throw new AuthFailure(
      401,
      this.entra === undefined
        ? 'the token is not a valid API key'
        : 'the token is neither a valid API key nor a JWT',
      'invalid_token',
    );
  }
}
