import { ConfigError, type ApiSettings } from '@tidemark/policy';
import { isIP } from 'node:net';

/** Whether `host` only ever accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/**
 * With no `api.auth`, a service answers without tokens, so it may only listen on a loopback address: bound to any
 * other (0.0.0.0 in the image) it refuses to start, naming what to configure. `auth: none` is the explicit opt-out.
 */
export function assertSafeBinding(api: ApiSettings, host: string): void {
  if (api.auth !== undefined || isLoopback(host)) return;
  throw new ConfigError([
    {
      path: 'api.auth',
      message: `required when the services listen on ${host} (HOST), which other machines can reach: configure entra or apiKeys, write \`auth: none\` to accept every caller, or set HOST=127.0.0.1`,
    },
  ]);
}
