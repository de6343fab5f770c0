import { Logger } from '@nestjs/common';
import { problem, writeProblem, type ProblemResponse } from '@tidemark/http-problems';
import type { AuthFailure } from './auth-failure';

const logger = new Logger('ApiAuth');

/** The parts of an HTTP response (Express's or Node's) a refusal is written with. */
export type RefusalResponse = ProblemResponse;

/** An AuthFailure as an RFC 9457 problem details response, with its WWW-Authenticate challenge. */
export function sendRefusal(response: RefusalResponse, failure: AuthFailure, instance?: string): void {
  // Who was refused and why is worth a line; what they sent never is.
  logger.warn({
    msg: 'request refused',
    status: failure.status,
    path: instance?.split('?')[0],
    reason: failure.detail,
  });
  const challenge = failure.challenge;
  writeProblem(
    response,
    problem(failure.status, failure.detail, instance),
    challenge === undefined ? {} : { 'WWW-Authenticate': challenge },
  );
}
