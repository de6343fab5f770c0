import type { Logger } from '@nestjs/common';
import { errorData } from '@tidemark/events';
import type { Redis } from 'ioredis';

/** The only policy under which Redis never drops a queued job, a job lock or a Tidemark lock (BullMQ's guidance). */
export const SAFE_EVICTION_POLICY = 'noeviction';

/** A policy that can evict keys: the service refuses to start, with this one-line message. */
export class EvictionPolicyError extends Error {
  constructor(readonly policy: string) {
    super(
      `Redis maxmemory-policy is "${policy}", which can evict queued jobs and locks: set it to noeviction (Azure Cache for Redis: Advanced settings, maxmemory-policy)`,
    );
    this.name = 'EvictionPolicyError';
  }
}

const ANSWER_TIMEOUT_MS = 5000;

/**
 * The server's maxmemory-policy: CONFIG GET, else `INFO memory` (managed Redis such as Azure Cache renames or
 * forbids CONFIG), else undefined when neither answers.
 */
export async function readEvictionPolicy(redis: Redis): Promise<string | undefined> {
  const fromConfig = await within(async () => {
    const reply: unknown = await redis.call('CONFIG', 'GET', 'maxmemory-policy');
    return Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined;
  });
  if (fromConfig !== undefined) return fromConfig;
  return within(async () => /^maxmemory_policy:(\S+)/m.exec(await redis.info('memory'))?.[1]);
}

async function within<T>(read: () => Promise<T | undefined>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      resolve(undefined);
    }, ANSWER_TIMEOUT_MS);
  });
  try {
    return await Promise.race([read().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Throws EvictionPolicyError for any policy but noeviction (volatile-* too: job and Tidemark locks carry TTLs). */
export async function assertNoEviction(redis: Redis, logger: Pick<Logger, 'warn'>): Promise<void> {
  const policy = await readEvictionPolicy(redis);
  if (policy === undefined) {
    logger.warn(
      { err: errorData(new Error('neither CONFIG GET nor INFO memory answered')) },
      'could not read Redis maxmemory-policy: make sure it is noeviction',
    );
    return;
  }
  if (policy !== SAFE_EVICTION_POLICY) throw new EvictionPolicyError(policy);
}
