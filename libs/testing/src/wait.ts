import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  timeoutMs: number;
  intervalMs: number;
  /** Named in the timeout error: `timed out after 5000ms waiting for <what>`. */
  what: string;
}

/**
 * Polls `fn` until it returns something other than undefined/false. A throwing `fn` counts as "not yet"
 * (services under test often refuse connections while starting); its last error is named on timeout.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  options: WaitForOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const last =
        lastError instanceof Error ? ` (last error: ${lastError.message.split('\n')[0] ?? ''})` : '';
      throw new Error(`timed out after ${options.timeoutMs}ms waiting for ${options.what}${last}`);
    }
    await sleep(Math.min(options.intervalMs, Math.max(0, deadline - Date.now())));
  }
}
