import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyEntry } from '@tidemark/policy';

/** The hex sha256 of an API key: what the config stores (`tidemark api-key hash` prints it). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * The entry whose hash is the key's, or undefined. Every entry is compared, each in constant time, so the time
 * taken says nothing about which entry or how much of a hash matched.
 */
export function matchApiKey(key: string, entries: readonly ApiKeyEntry[]): ApiKeyEntry | undefined {
  const presented = createHash('sha256').update(key, 'utf8').digest();
  let found: ApiKeyEntry | undefined;
  for (const entry of entries) {
    const stored = Buffer.from(entry.sha256, 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) found ??= entry;
  }
  return found;
}
