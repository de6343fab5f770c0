import { redact } from '@tidemark/redaction';
import type { DeliveryPolicy, DeliveryResult, ResolvedDeps } from './contract';

/**
 * Five attempts, at most 15 s of waiting between them and 10 s each: a dead receiver is given up on within about
 * a minute, not hammered.
 */
export const DEFAULT_DELIVERY: DeliveryPolicy = {
  maxAttempts: 5,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  timeoutMs: 10_000,
};

/** What one attempt came to. `retry` says whether another attempt could do better (network, 429, 5xx). */
export type AttemptOutcome =
  | { ok: true; status?: number; detail: string }
  | { ok: false; status?: number; detail: string; retry: boolean; retryAfterMs?: number };

/**
 * Runs `attempt` until it succeeds, fails for good, or `maxAttempts` are used, waiting an exponential backoff
 * with jitter between attempts (or what the receiver's Retry-After asked for, capped at maxDelayMs). Each
 * attempt has its own timeout. Every detail is redacted of `secrets` before it leaves.
 */
export async function deliver(
  attempt: (signal: AbortSignal) => Promise<AttemptOutcome>,
  deps: ResolvedDeps,
  secrets: readonly string[],
  signal?: AbortSignal,
): Promise<DeliveryResult> {
  const { delivery } = deps;
  const maxAttempts = Math.max(1, Math.floor(delivery.maxAttempts));
  for (let attempts = 1; ; attempts++) {
    const timeout = AbortSignal.timeout(delivery.timeoutMs);
    const outcome = await attempt(signal ? AbortSignal.any([signal, timeout]) : timeout).catch(
      (error: unknown) => networkOutcome(error, timeout.aborted, delivery.timeoutMs),
    );
    const status = outcome.status === undefined ? {} : { status: outcome.status };
    if (outcome.ok) return { ok: true, ...status, attempts, detail: redact(outcome.detail, secrets) };
    const last = !outcome.retry || attempts >= maxAttempts || signal?.aborted === true;
    if (last) {
      const gaveUp = outcome.retry && attempts > 1 ? ` (gave up after ${attempts} attempts)` : '';
      return { ok: false, ...status, attempts, detail: redact(`${outcome.detail}${gaveUp}`, secrets) };
    }
    await deps.sleep(backoffMs(attempts, delivery, deps.random, outcome.retryAfterMs));
  }
}

/** The wait after attempt `attempt` (1-based): the receiver's wish if it said one, else base * 2^(n-1) jittered. */
export function backoffMs(
  attempt: number,
  policy: Pick<DeliveryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number,
  retryAfterMs?: number,
): number {
  if (retryAfterMs !== undefined) return Math.min(Math.max(0, retryAfterMs), policy.maxDelayMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // "Equal jitter": never less than half the ceiling, so retries still back off, yet replicas spread out.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Retry-After as seconds or an HTTP date, in milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function networkOutcome(error: unknown, timedOut: boolean, timeoutMs: number): AttemptOutcome {
  if (timedOut) return { ok: false, retry: true, detail: `no answer within ${timeoutMs} ms` };
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  const reason = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  return { ok: false, retry: true, detail: `network error: ${firstLine(reason)}` };
}

const MAX_ANSWER = 200;

/** The start of what a receiver answered, on one line, for the detail. */
export function shortAnswer(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_ANSWER ? `${line.slice(0, MAX_ANSWER)}…` : line;
}

function firstLine(text: string): string {
  return shortAnswer(text.split(/\r?\n/, 1)[0] ?? '');
}

/**
 * The strings to redact for a secret value: the value itself, and for a URL its path and query (where Slack and
 * Teams keep the key) when they are long enough not to mask ordinary words.
 */
export function secretsOf(values: readonly (string | undefined)[]): string[] {
  return values.flatMap((value) => {
    if (!value) return [];
    const parts = [value];
    if (URL.canParse(value)) {
      const url = new URL(value);
      parts.push(`${url.pathname}${url.search}`, url.search.slice(1), url.password, decoded(url.password));
    }
    return parts.filter((part) => part.length >= 8);
  });
}

/** A %-encoded URL part as written before encoding; as it is when it is not valid %-encoding. */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
