import type { Channel, DeliveryResult, Notification, ResolvedDeps } from './contract';
import { deliver, retryAfterMs, secretsOf, shortAnswer, type AttemptOutcome } from './delivery';

/** One HTTP POST a kind makes for a notification. */
export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A channel that POSTs each notification as `build` renders it. 2xx is delivered; 429, 5xx and network errors
 * are retried; any other status fails at once (a bad URL or payload will not get better).
 */
export function httpChannel(
  name: string,
  kind: string,
  deps: ResolvedDeps,
  secrets: readonly (string | undefined)[],
  build: (notification: Notification) => HttpRequest,
): Channel {
  const masked = secretsOf(secrets);
  return {
    name,
    kind,
    send(notification, opts = {}): Promise<DeliveryResult> {
      const request = build(notification);
      return deliver((signal) => post(deps.fetch, request, signal), deps, masked, opts.signal);
    },
  };
}

async function post(
  fetchFn: typeof fetch,
  request: HttpRequest,
  signal: AbortSignal,
): Promise<AttemptOutcome> {
  // A redirect would carry the payload somewhere nobody configured: it is an answer, not a place to follow.
  const response = await fetchFn(request.url, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
    signal,
    redirect: 'manual',
  });
  const answer = shortAnswer(await response.text());
  const detail = `HTTP ${response.status}${answer === '' ? '' : `: ${answer}`}`;
  if (response.ok) return { ok: true, status: response.status, detail };
  const retry = response.status === 429 || response.status >= 500;
  const after = retry ? retryAfterMs(response.headers.get('retry-after')) : undefined;
  return {
    ok: false,
    status: response.status,
    detail,
    retry,
    ...(after === undefined ? {} : { retryAfterMs: after }),
  };
}
