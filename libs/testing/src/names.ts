import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it; another process could still take it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('could not determine a free TCP port');
  return address.port;
}

/**
 * A fresh name made only of lowercase letters and digits, starting with a letter and at most 63 characters:
 * the intersection of what Blob container names and unquoted PostgreSQL/MySQL database names accept.
 */
export function uniqueName(prefix: string): string {
  let base = prefix.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!/^[a-z]/.test(base)) base = `t${base}`;
  const suffix = Date.now().toString(36).slice(-5) + randomBytes(5).toString('hex');
  return `${base.slice(0, 63 - suffix.length)}${suffix}`;
}
