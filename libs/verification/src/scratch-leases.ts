import { Inject, Injectable } from '@nestjs/common';
import { redisKey } from '@tidemark/events';
import { REDIS } from '@tidemark/queues';
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';

/** Every scratch copy a restore test makes starts with this (databases, files and directories alike). */
export const SCRATCH_PREFIX = 'tidemark_verify_';
// prefix + backup id (lower case, `_` for `-`) + `_` + a token unique to the attempt.
const SCRATCH_NAME = /^tidemark_verify_\d{8}t\d{6}z_[0-9a-z]{6}_[0-9a-z]{8}/;

/**
 * A scratch name for one restore test attempt: the backup it tests plus a token, so a retry after a crash never
 * meets the copy the dead attempt left (that copy is removed as a leftover instead).
 */
export function scratchName(backupId: string): string {
  const token = randomBytes(5).readUIntBE(0, 5).toString(36).padStart(8, '0').slice(-8);
  return `${SCRATCH_PREFIX}${backupId.toLowerCase().replace(/[^a-z0-9]/g, '_')}_${token}`;
}

/**
 * The scratch name an entry (a database, or a file or directory derived from the name) belongs to; undefined for
 * names this version does not make (an older version's, which no running test can hold).
 */
export function scratchOf(entry: string): string | undefined {
  return SCRATCH_NAME.exec(entry)?.[0];
}

/**
 * Leases in Redis on the scratch copies of running restore tests, renewed while the test runs: a scratch copy
 * without a live lease belongs to a test that died, and any verifier may remove it. Renewal re-creates a lease
 * that Redis lost (a flush, a failover), so a running test keeps its claim.
 */
@Injectable()
export class ScratchLeases {
  /** How long a lease outlives its last renewal (`TIDEMARK_SCRATCH_LEASE_MS`, default one minute). */
  readonly ttlMs = leaseMs(process.env['TIDEMARK_SCRATCH_LEASE_MS']);

  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  private readonly root = redisKey('scratch');

  private key(name: string): string {
    return `${this.root}:${name}`;
  }

  async hold<T>(name: string, work: () => Promise<T>): Promise<T> {
    const take = (): Promise<unknown> =>
      this.redis.set(this.key(name), String(process.pid), 'PX', this.ttlMs);
    await take();
    const renew = setInterval(() => void take().catch(() => undefined), this.ttlMs / 3);
    try {
      return await work();
    } finally {
      clearInterval(renew);
      await this.redis.del(this.key(name)).catch(() => undefined);
    }
  }

  /** Whether the copy `entry` belongs to a restore test that is still running. */
  async isLive(entry: string): Promise<boolean> {
    const name = scratchOf(entry);
    return name !== undefined && (await this.redis.exists(this.key(name))) === 1;
  }
}

function leaseMs(value: string | undefined): number {
  const ms = Number(value ?? 60_000);
  if (!Number.isInteger(ms) || ms < 1000)
    throw new Error(
      `TIDEMARK_SCRATCH_LEASE_MS must be a whole number of milliseconds of at least 1000, got "${value}"`,
    );
  return ms;
}
