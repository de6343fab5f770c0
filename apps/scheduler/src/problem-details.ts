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
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
};

interface Reply {
  status(code: number): Reply;
  type(contentType: string): Reply;
  send(body: string): unknown;
}

export function problem(status: number, detail: string, instance?: string): ProblemDetails {
  return {
    type: status >= 500 ? 'about:blank' : `https://tidemark.dev/problems/${status}`,
    title: TITLES[status] ?? HttpStatus[status] ?? 'Error',
    status,
    detail,
    ...(instance ? { instance } : {}),
  };
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
