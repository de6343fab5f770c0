import type { EntraAuth } from '@tidemark/policy';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { AuthFailure } from './auth-failure';
import type { Principal } from './principal';

/** Where Entra ID publishes a tenant's v2 tokens' issuer and signing keys (override both in tests). */
export function entraEndpoints(entra: EntraAuth): { issuer: string; jwksUri: string } {
  const base = `https://login.microsoftonline.com/${entra.tenantId}`;
  return { issuer: entra.issuer ?? `${base}/v2.0`, jwksUri: entra.jwksUri ?? `${base}/discovery/v2.0/keys` };
}

// Entra signs access tokens with RS256; accepting only it rules out algorithm confusion.
const ALGORITHMS = ['RS256'];
// Tolerates small clock differences between Entra and this host.
const CLOCK_TOLERANCE_SECONDS = 60;

/**
 * Validates Entra ID access tokens against the tenant's published keys (fetched on first use, cached, and fetched
 * again when a token names a key not seen yet): signature, issuer, audience, expiry and not-before, tenant, and the
 * required app role in `roles`.
 */
export class EntraVerifier {
  private readonly issuer: string;
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly entra: EntraAuth) {
    const { issuer, jwksUri } = entraEndpoints(entra);
    this.issuer = issuer;
    this.keys = createRemoteJWKSet(new URL(jwksUri));
  }

  async verify(token: string): Promise<Principal> {
    const payload = await this.validPayload(token);
    if (
      typeof payload['tid'] === 'string' &&
      payload['tid'].toLowerCase() !== this.entra.tenantId.toLowerCase()
    )
      throw new AuthFailure(401, 'the token belongs to another tenant', 'invalid_token');
    if (typeof payload.sub !== 'string' || payload.sub === '')
      throw new AuthFailure(401, 'the token has no subject (sub)', 'invalid_token');
    const roles = Array.isArray(payload['roles']) ? payload['roles'] : [];
    if (!roles.includes(this.entra.role))
      throw new AuthFailure(
        403,
        `the token does not carry the app role ${this.entra.role}`,
        'insufficient_scope',
      );
    const app = typeof payload['azp'] === 'string' ? payload['azp'] : payload['appid'];
    return { kind: 'entra', subject: payload.sub, ...(typeof app === 'string' ? { app } : {}) };
  }

  private async validPayload(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.keys, {
        issuer: this.issuer,
        audience: this.entra.audience,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (error) {
      throw tokenFailure(error);
    }
  }
}

/** jose's reason, in words that name the claim at fault and never echo the token. */
function tokenFailure(error: unknown): AuthFailure {
  if (error instanceof errors.JWTExpired)
    return new AuthFailure(401, 'the token has expired', 'invalid_token');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reason =
      error.claim === 'iss'
        ? 'the token was not issued by the configured tenant'
        : error.claim === 'aud'
          ? 'the token is meant for another audience'
          : error.claim === 'nbf'
            ? 'the token is not valid yet'
            : `the token's ${error.claim} claim is invalid`;
    return new AuthFailure(401, reason, 'invalid_token');
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWSSignatureVerificationFailed)
    return new AuthFailure(401, "the token's signature is not from the tenant's keys", 'invalid_token');
  if (error instanceof errors.JOSEAlgNotAllowed)
    return new AuthFailure(401, 'the token is signed with an algorithm other than RS256', 'invalid_token');
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid)
    return new AuthFailure(401, 'the token is not a well-formed JWT', 'invalid_token');
  // The key set could not be fetched (network, timeout, a bad answer): not the caller's fault.
  return new AuthFailure(503, "the tenant's signing keys could not be fetched; try again later");
}
