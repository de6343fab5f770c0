import { Logger } from '@nestjs/common';
import type { AuthFailure } from './auth-failure';

const logger = new Logger('ApiAuth');

const TITLES = { 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' } as const;

/** The parts of an HTTP response (Express's or Node's) a refusal is written with. */
export interface RefusalResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

/** An AuthFailure as an RFC 9457 problem details response, with its WWW-Authenticate challenge. */
export function sendRefusal(response: RefusalResponse, failure: AuthFailure, instance?: string): void {
  // Who was refused and why is worth a line; what they sent never is.
  logger.warn({
    msg: 'request refused',
    status: failure.status,
    path: instance?.split('?')[0],
    reason: failure.detail,
  });
  const body = {
    type: `https://tidemark.dev/problems/${failure.status}`,
    title: TITLES[failure.status],
    status: failure.status,
    detail: failure.detail,
    ...(instance ? { instance: instance.split('?')[0] } : {}),
  };
  response.statusCode = failure.status;
  response.setHeader('Content-Type', 'application/problem+json');
  response.setHeader('Cache-Control', 'no-store');
  const challenge = failure.challenge;
  if (challenge !== undefined) response.setHeader('WWW-Authenticate', challenge);
  response.end(JSON.stringify(body));
}
