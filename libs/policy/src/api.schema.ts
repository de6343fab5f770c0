import { z } from 'zod';

/** What `api.metrics` may say: `/metrics` answers anyone, or only a bearer token like the other endpoints. */
export const METRICS_ACCESS = ['open', 'token'] as const;

// Entra puts the tenant's GUID into every token's `iss` and `tid`, never its domain name.
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHA256_HEX = /^[0-9a-f]{64}$/;
// Shown in audit events and logs as who made a call: plain words only.
const KEY_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** An https URL; http only for a loopback host (a local JWKS in tests): keys fetched in the clear could be forged. */
const keyServerUrl = z.url().superRefine((raw, ctx) => {
  const url = new URL(raw);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return;
  ctx.addIssue({
    code: 'custom',
    message: `must be an https URL (http only on a loopback host), not ${raw}`,
  });
});

const entraSchema = z.strictObject({
  tenantId: z.string().regex(TENANT_ID, {
    error: (issue) =>
      `"${String(issue.input)}" is not a tenant id (the directory's GUID, e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47)`,
  }),
  /** The API's application ID URI or client id, as the tokens' `aud` carries it. */
  audience: z.string().min(1),
  /** The app role a caller must hold (the token's `roles` claim). */
  role: z.string().min(1).default('Tidemark.Operator'),
  /** Default: Entra's v2 issuer of the tenant (https://login.microsoftonline.com/<tenantId>/v2.0). */
  issuer: z.string().min(1).optional(),
  /** Default: the tenant's v2 signing keys (https://login.microsoftonline.com/<tenantId>/discovery/v2.0/keys). */
  jwksUri: keyServerUrl.optional(),
});

const apiKeySchema = z.strictObject({
  name: z.string().regex(KEY_NAME, {
    error: (issue) =>
      `"${String(issue.input)}" is not a key name (1-63 lowercase letters, digits, ".", "_" and "-")`,
  }),
  // Only the hash is ever stored: a config file that leaks gives nobody a key.
  sha256: z.string().regex(SHA256_HEX, {
    error: 'must be the hex sha256 of the key (64 lowercase hex digits; `tidemark api-key hash` prints it)',
  }),
});

const NOT_AUTH = 'must be none or a mapping with entra and/or apiKeys';

/**
 * `auth: none` is read as `{ none: true }` and turned back after the checks: one object schema (not a union) keeps
 * every problem of a mistyped block at its own path.
 */
const authSchema = z.preprocess(
  (value) => (value === 'none' ? { none: true } : value),
  z
    .strictObject(
      {
        none: z.literal(true).optional(),
        entra: entraSchema.optional(),
        apiKeys: z.array(apiKeySchema).optional(),
      },
      { error: (issue) => (issue.code === 'invalid_type' ? NOT_AUTH : undefined) },
    )
    .superRefine((auth, ctx) => {
      if (auth.none === true) {
        if (auth.entra !== undefined || auth.apiKeys !== undefined)
          ctx.addIssue({ code: 'custom', message: 'none takes no entra or apiKeys beside it' });
        return;
      }
      if (auth.entra === undefined && (auth.apiKeys ?? []).length === 0)
        ctx.addIssue({
          code: 'custom',
          message: 'needs entra or at least one of apiKeys (or write `auth: none` to accept every caller)',
        });
      uniqueKeyIssues(auth.apiKeys ?? []).forEach((issue) => {
        ctx.addIssue({ code: 'custom', ...issue });
      });
    })
    .transform(({ none, ...auth }) => (none === true ? ('none' as const) : auth)),
);

function uniqueKeyIssues(
  keys: readonly z.infer<typeof apiKeySchema>[],
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  keys.forEach((key, index) => {
    const first = names.get(key.name);
    if (first === undefined) names.set(key.name, index);
    else
      issues.push({
        path: ['apiKeys', index, 'name'],
        message: `duplicate key name "${key.name}" (also apiKeys[${first}])`,
      });
    const same = hashes.get(key.sha256);
    if (same === undefined) hashes.set(key.sha256, index);
    else
      issues.push({
        path: ['apiKeys', index, 'sha256'],
        message: `the same key as apiKeys[${same}]: each caller needs a key of its own`,
      });
  });
  return issues;
}

/**
 * The HTTP API's access rules. `auth` left out: the services answer without a token, and only on a loopback
 * address (a service bound elsewhere refuses to start); `auth: none` opts out of authentication explicitly.
 */
export const apiSchema = z
  .strictObject({
    auth: authSchema.optional(),
    metrics: z.enum(METRICS_ACCESS).default('open'),
  })
  .superRefine((api, ctx) => {
    if (api.metrics === 'token' && (api.auth === undefined || api.auth === 'none'))
      ctx.addIssue({
        code: 'custom',
        path: ['metrics'],
        message: 'token needs api.auth with entra or apiKeys to check the token against',
      });
  });

export type ApiSettings = z.infer<typeof apiSchema>;
export type ApiAuth = Exclude<ApiSettings['auth'], 'none' | undefined>;
export type EntraAuth = NonNullable<ApiAuth['entra']>;
export type ApiKeyEntry = NonNullable<ApiAuth['apiKeys']>[number];
export type MetricsAccess = (typeof METRICS_ACCESS)[number];
