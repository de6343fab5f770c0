import { environmentOf, type RawEnvironment } from '@tidemark/environment';
import { Redis, type RedisOptions } from 'ioredis';

export function redisUrl(raw?: RawEnvironment): string {
  return environmentOf(raw).REDIS_URL;
}

/** Connection options parsed from a redis:// or rediss:// URL, so BullMQ opens (and closes) its own connections. */
export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: object;
  maxRetriesPerRequest: null;
}

export function redisOptions(url = redisUrl()): RedisEndpoint {
  const u = new URL(url);
  const db = Number(u.pathname.replace('/', '') || '0');
  return {
    host: u.hostname,
    port: Number(u.port || '6379'),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: Number.isFinite(db) ? db : 0,
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** BullMQ needs `maxRetriesPerRequest: null` on worker connections so blocking commands wait through reconnects. */
export function redisConnection(url = redisUrl(), options: RedisOptions = {}): Redis {
  return new Redis({ ...redisOptions(url), ...options });
}

/** Host and port only, for messages: a REDIS_URL may hold a password. */
export function describeRedis(url = redisUrl()): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'the configured Redis';
  }
}
