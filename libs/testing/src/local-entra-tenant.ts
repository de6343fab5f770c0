import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface TenantTokenOptions {
  /** The issuing tenant (default: this one); another tenant's token is signed with the same keys, as on Entra. */
  tenant?: string;
  /** Expiry: a jose time span (`5m`) or epoch seconds (default 5 minutes from now). */
  expires?: string | number;
  audience?: string;
  /** Sign with a key the tenant never published (a forgery). */
  stranger?: boolean;
}

/**
 * An Entra ID tenant for tests: its signing keys served as a JWKS from a node:http server on 127.0.0.1, and
 * access tokens signed with them. The issuer is Entra's v2 issuer of the tenant id, so only `jwksUri` needs
 * overriding in the config.
 */
export class LocalEntraTenant {
  static readonly TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  static readonly OTHER_TENANT = '0f0f0f0f-1111-2222-3333-444444444444';
  static readonly AUDIENCE = 'api://tidemark';

  jwksUri = '';
  private server: Server | undefined;
  private key: CryptoKey | undefined;
  private strangerKey: CryptoKey | undefined;

  async start(): Promise<void> {
    const own = await generateKeyPair('RS256');
    this.key = own.privateKey;
    this.strangerKey = (await generateKeyPair('RS256')).privateKey;
    const jwks: { keys: JWK[] } = {
      keys: [{ ...(await exportJWK(own.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }],
    };
    const server = createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(jwks));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/discovery/v2.0/keys`;
  }

  static issuer(tenant: string = LocalEntraTenant.TENANT): string {
    return `https://login.microsoftonline.com/${tenant}/v2.0`;
  }

  /** An access token with `roles: [Tidemark.Operator]`, subject `sp-object-id-1` and client `ci-app`; `claims` override. */
  token(claims: Record<string, unknown> = {}, options: TenantTokenOptions = {}): Promise<string> {
    const tenant = options.tenant ?? LocalEntraTenant.TENANT;
    const key = options.stranger ? this.strangerKey : this.key;
    if (key === undefined) throw new Error('LocalEntraTenant.start() first');
    return new SignJWT({ tid: tenant, roles: ['Tidemark.Operator'], azp: 'ci-app', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(LocalEntraTenant.issuer(tenant))
      .setAudience(options.audience ?? LocalEntraTenant.AUDIENCE)
      .setSubject('sp-object-id-1')
      .setIssuedAt()
      .setExpirationTime(options.expires ?? '5m')
      .sign(key);
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
