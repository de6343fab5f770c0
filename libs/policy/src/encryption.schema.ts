import { z } from 'zod';

const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const BECH32_GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

/** The bech32 checksum (BIP 173) over a lowercase string; age ignores the 90-character limit (hybrid keys). */
function bech32ChecksumOk(text: string): boolean {
  const separator = text.lastIndexOf('1');
  if (separator < 1 || text.length - separator < 7) return false;
  const hrp = text.slice(0, separator);
  const values: number[] = [];
  for (const char of hrp) values.push(char.charCodeAt(0) >> 5);
  values.push(0);
  for (const char of hrp) values.push(char.charCodeAt(0) & 31);
  for (const char of text.slice(separator + 1)) {
    const value = BECH32_CHARSET.indexOf(char);
    if (value < 0) return false;
    values.push(value);
  }
  let checksum = 1;
  for (const value of values) {
    const top = checksum >>> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    BECH32_GENERATORS.forEach((generator, bit) => {
      if ((top >>> bit) & 1) checksum ^= generator;
    });
  }
  return checksum === 1;
}

/** A public age recipient (`age1…`, X25519 or hybrid post-quantum) with a valid checksum. */
export function isAgeRecipient(value: string): boolean {
  return value.startsWith('age1') && value === value.toLowerCase() && bech32ChecksumOk(value);
}

/** A whole value that is exactly one `${NAME}` reference. */
const WHOLE_ENV_REF = /^\$\{[A-Z_][A-Z0-9_]*\}$/;

export function isWholeEnvRef(value: string): boolean {
  return WHOLE_ENV_REF.test(value);
}

function looksLikeSecretKey(value: string): boolean {
  return /AGE-SECRET-KEY-/i.test(value);
}

const recipientSchema = z.string().superRefine((recipient, ctx) => {
  if (isWholeEnvRef(recipient) || isAgeRecipient(recipient)) return;
  // Never echo what looks like a private key: the message would carry it into logs.
  ctx.addIssue({
    code: 'custom',
    message: looksLikeSecretKey(recipient)
      ? 'is an age identity (a private key), not a recipient: put its public key (age1…) here and keep the identity secret'
      : `"${recipient}" is not a valid age recipient (a public key age1… or a \${NAME} reference)`,
  });
});

const IDENTITY_FORMS = '"${NAME}", { file: <path> } or { keyVault: { vaultUrl, secret } }';

const secretKeyString = z.string().superRefine((value, ctx) => {
  if (isWholeEnvRef(value)) return;
  ctx.addIssue({
    code: 'custom',
    message: looksLikeSecretKey(value)
      ? `must not hold the key itself: write ${IDENTITY_FORMS}`
      : `must be ${IDENTITY_FORMS}`,
  });
});
const identityFileSchema = z.strictObject({ file: z.string().min(1) });
const identityKeyVaultSchema = z.strictObject({
  keyVault: z.strictObject({
    vaultUrl: z.url({ protocol: /^https$/, error: 'must be the https URL of a Key Vault' }),
    secret: z.string().regex(/^[0-9A-Za-z-]{1,127}$/, {
      error: 'must be a Key Vault secret name (1-127 letters, digits and hyphens)',
    }),
  }),
});

/** Where a private age identity comes from; it is never written into the config itself. */
export type IdentityRef =
  string | z.infer<typeof identityFileSchema> | z.infer<typeof identityKeyVaultSchema>;

function identityFormOf(value: unknown): z.ZodType | undefined {
  if (typeof value === 'string') return secretKeyString;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  if ('file' in value) return identityFileSchema;
  if ('keyVault' in value) return identityKeyVaultSchema;
  return undefined;
}

/**
 * One identity reference. The form is chosen by its shape, not by a zod union, so each problem is reported at its
 * own key, and no message quotes the value (it may be a key pasted by mistake).
 */
const identityRefSchema = z.unknown().transform((value, ctx): IdentityRef => {
  const form = identityFormOf(value);
  if (form === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be ${IDENTITY_FORMS}` });
    return z.NEVER;
  }
  const result = form.safeParse(value);
  if (result.success) return result.data as IdentityRef;
  for (const issue of result.error.issues) {
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown key ${issue.keys.map((key) => `"${key}"`).join(', ')} (an identity is ${IDENTITY_FORMS})`
        : issue.code === 'custom' || issue.path.length > 0
          ? issue.message
          : `must be ${IDENTITY_FORMS}`;
    ctx.addIssue({ code: 'custom', path: issue.path, message });
  }
  return z.NEVER;
});

const identitiesSchema = z.unknown().transform((value, ctx): IdentityRef | IdentityRef[] => {
  if (!Array.isArray(value)) {
    const result = identityRefSchema.safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) ctx.addIssue({ ...issue, code: 'custom' });
    return z.NEVER;
  }
  if (value.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must not be an empty list (leave identity out instead)' });
    return z.NEVER;
  }
  const refs: IdentityRef[] = [];
  value.forEach((entry: unknown, index) => {
    const result = identityRefSchema.safeParse(entry);
    if (result.success) refs.push(result.data);
    else
      for (const issue of result.error.issues)
        ctx.addIssue({ code: 'custom', path: [index, ...issue.path], message: issue.message });
  });
  return refs;
});

/**
 * A policy's `encryption`: every artifact is encrypted with age to all `recipients` (public keys, so the dumper
 * needs no secret). `identity` (one or a list, for key rotation) is what the verifier and restore decrypt with.
 */
export const encryptionSchema = z.strictObject({
  recipients: z.array(recipientSchema).min(1, { error: 'at least one recipient is required' }),
  identity: identitiesSchema.optional(),
});
export type EncryptionPolicy = z.infer<typeof encryptionSchema>;

/** The identity references of a policy's encryption as a list (one, several, or none). */
export function identityRefsOf(encryption: EncryptionPolicy): IdentityRef[] {
  const { identity } = encryption;
  if (identity === undefined) return [];
  return Array.isArray(identity) ? identity : [identity];
}
