/** Why a request was refused: 401 (no valid credentials), 403 (valid, without the role), 503 (keys unreachable). */
export class AuthFailure extends Error {
  override readonly name = 'AuthFailure';

  constructor(
    readonly status: 401 | 403 | 503,
    /** Says what is wrong with the credentials, never echoes them. */
    readonly detail: string,
    /** RFC 6750's error code for the WWW-Authenticate header; none when no credentials were sent. */
    readonly bearerError?: 'invalid_token' | 'insufficient_scope' | 'invalid_request',
  ) {
    super(detail);
  }

  /** The WWW-Authenticate challenge of a 401 or 403 (RFC 6750 section 3). */
  get challenge(): string | undefined {
    if (this.status === 503) return undefined;
    const parts = ['Bearer realm="tidemark"'];
    if (this.bearerError !== undefined) {
      parts.push(`error="${this.bearerError}"`);
      // A quoted-string: no quotes or backslashes inside, one line.
      parts.push(`error_description="${this.detail.replace(/["\\\r\n]/g, "'")}"`);
    }
    return parts.join(', ');
  }
}

export const missingCredentials = (): AuthFailure =>
  new AuthFailure(
    401,
    'this endpoint needs an Authorization: Bearer <token> header (an API key or an Entra ID token)',
  );
