import {
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { errorData } from '@tidemark/events';

/** RFC 9457 problem details: what every error response of the REST API is, never a stack trace. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Request bodies are small JSON objects at most; anything bigger is refused before it is parsed. */
export const MAX_BODY_BYTES = 16 * 1024;

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

interface Reply {
  status(code: number): Reply;
  type(contentType: string): Reply;
  send(body: string): unknown;
}

/** The problem for `status`; `instance` is the request's path (a query string is dropped: it may hold a secret). */
export function problem(status: number, detail: string, instance?: string): ProblemDetails {
  const path = instance?.split('?')[0];
  return {
    // A 500 says nothing beyond its status; every other problem has a page of its own.
    type: status === 500 ? 'about:blank' : `https://tidemark.dev/problems/${status}`,
    title: TITLES[status] ?? HttpStatus[status] ?? 'Error',
    status,
    detail,
    ...(path ? { instance: path } : {}),
  };
}

/** The parts of an HTTP response (Express's or Node's) a problem is written with, outside Nest's filters. */
export interface ProblemResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

/** Writes `body` as the whole response, with `headers` besides the content type; never cached. */
export function writeProblem(
  response: ProblemResponse,
  body: ProblemDetails,
  headers: Record<string, string> = {},
): void {
  response.statusCode = body.status;
  response.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
  response.setHeader('Cache-Control', 'no-store');
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  response.end(JSON.stringify(body));
}

function send(reply: Reply, body: ProblemDetails): void {
  reply.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/** Every exception a handler throws (and an unknown route) as problem details; a 5xx says nothing internal. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('REST');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<Reply>();
    const url = http.getRequest<{ url?: string }>().url;
    if (exception instanceof HttpException && exception.getStatus() < 500) {
      send(reply, problem(exception.getStatus(), exception.message, url));
      return;
    }
    this.logger.error({ url, err: errorData(exception) }, 'request failed');
    send(reply, problem(500, 'the request could not be handled; the service log says why', url));
  }
}

/**
 * Body parsing happens before any route, where Nest's filters do not reach: the parsers are installed here with a
 * size limit, followed by an error handler that answers their failures (bad JSON, too large) as problem details.
 */
export function useProblemDetailsForBodies(app: INestApplication): void {
  const express = app as NestExpressApplication;
  express.useBodyParser('json', { limit: MAX_BODY_BYTES });
  express.useBodyParser('urlencoded', { limit: MAX_BODY_BYTES, extended: false });
  express.use(
    (
      error: { status?: unknown; type?: unknown; message?: unknown },
      request: { url?: string },
      reply: Reply,
      next: (error?: unknown) => void,
    ): void => {
      if (typeof error.status !== 'number' || error.status < 400 || error.status >= 500) {
        next(error);
        return;
      }
      const detail =
        error.type === 'entity.too.large'
          ? `the request body is larger than ${MAX_BODY_BYTES} bytes`
          : error.type === 'entity.parse.failed'
            ? 'the request body is not valid JSON'
            : `the request body could not be read (${typeof error.type === 'string' ? error.type : 'unknown'})`;
      send(reply, problem(error.status, detail, request.url));
    },
  );
}
