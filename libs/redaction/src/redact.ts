const MASK = '***';

type Replacement = string | ((match: string, ...groups: string[]) => string);

// Each rule keeps the name of the secret and masks only its value, so a redacted message still says what went wrong.
const RULES: readonly [RegExp, Replacement][] = [
  // scheme://user:password@host — any URL with credentials (postgres, mysql, redis, amqp, http...).
  [/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi, `$1${MASK}@`],
  // Azure connection strings and SAS tokens; key=value pairs end at ; & whitespace or a quote.
  [/\b(AccountKey|SharedAccessKey|SharedAccessSignature)=[^;&\s"']*/gi, `$1=${MASK}`],
  [/([?&]sig=)[^&\s"']*/gi, `$1${MASK}`],
  // password=..., PGPASSWORD=..., MYSQL_PWD=..., "password":"..." in DSNs, env dumps, command lines and JSON.
  [
    /\b([A-Z_]*PASSWORD|MYSQL_PWD|passwd|pwd)("?\s*[=:]\s*)("[^"]*"|'[^']*'|[^;&\s"',}]*)/gi,
    (_match, name, separator, value) => {
      const quote = value.startsWith('"') || value.startsWith("'") ? value.charAt(0) : '';
      return `${name}${separator}${quote}${MASK}${quote}`;
    },
  ],
];

/**
 * Removes secrets from any text: each of `secrets` (a password, an account key, a SAS token; as written and
 * %-encoded, however it is spelled in a url), then whatever looks like one (URL credentials, passwords, Azure
 * keys, SAS signatures).
 */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    out = out.split(secret).join(MASK);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join(MASK);
  }
  for (const [pattern, replacement] of RULES) {
    out =
      typeof replacement === 'string' ? out.replace(pattern, replacement) : out.replace(pattern, replacement);
  }
  return out;
}

/** The `{ code, message }` of a failure event: the error's string code or 'internal', and its redacted first line. */
export function errorData(error: unknown): { code: string; message: string } {
  let code = 'internal';
  let message: string;
  if (error instanceof Error) {
    const maybeCode = (error as { code?: unknown }).code;
    if (typeof maybeCode === 'string' && maybeCode.length > 0) code = maybeCode;
    message = error.message;
  } else if (
    typeof error === 'object' &&
    error !== null &&
    'message' in error &&
    typeof error.message === 'string'
  ) {
    const maybeCode = (error as { code?: unknown }).code;
    if (typeof maybeCode === 'string' && maybeCode.length > 0) code = maybeCode;
    message = error.message;
  } else {
    message = String(error);
  }
  const firstLine = message.split(/\r?\n/, 1)[0] ?? '';
  return { code, message: redact(firstLine.trim()) || 'unknown error' };
}
