import { createHash } from 'node:crypto';

/**
 * A short, order-independent name of a recipient set (`sha256:` and 16 hex digits), recorded in the manifest so a
 * person can tell which key set a backup was encrypted to without comparing every key.
 */
export function recipientsFingerprint(recipients: readonly string[]): string {
  const canonical = [...new Set(recipients)].sort().join('\n');
  return `sha256:${createHash('sha256').update(canonical).digest('hex').slice(0, 16)}`;
}
