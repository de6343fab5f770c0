import type { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { errorData, redact } from '@tidemark/events';
import { EnvironmentError, loadEnvironment } from '@tidemark/environment';
import { ConfigError } from '@tidemark/policy';

export interface BootstrapOptions {
  service: string;
  defaultPort: number;
  /** Runs after the logger is in place and before listening (global prefixes, pipes, OpenAPI docs...). */
  configure?: (app: INestApplication) => void | Promise<void>;
}

/**
 * Creates, configures and starts a service. A failure to start (a config error, a port in use) ends the process
 * with one line `<service>: <message>` on stderr (one per problem of a bad config) and exit code 1 — never a
 * stack trace.
 */
export async function bootstrapService(
  module: Type<unknown>,
  options: BootstrapOptions,
): Promise<INestApplication> {
  let app: INestApplication | undefined;
  try {
    // The environment first: a bad variable stops the service before anything connects, one line per variable.
    const env = loadEnvironment();
    const port = env.PORT ?? options.defaultPort;
    const host = env.HOST;
    // abortOnError: false makes Nest rethrow instead of aborting; autoFlushLogs: false keeps its stack-trace log of
    // the failure in the buffer, which is dropped, so the one line below is all that is printed.
    // Nest declares these options as a class but only ever reads them as a plain object.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    app = await NestFactory.create(module, { bufferLogs: true, autoFlushLogs: false, abortOnError: false });
    const logger = app.get(Logger);
    app.useLogger(logger);
    app.flushLogs();
    app.enableShutdownHooks();
    await options.configure?.(app);
    await app.listen(port, host);
    // The bound port, which differs from the requested one for PORT=0.
    const url = new URL(await app.getUrl());
    logger.log({ msg: 'listening', host, port: Number(url.port) });
    return app;
  } catch (error) {
    for (const line of failureLines(error)) process.stderr.write(`${options.service}: ${line}\n`);
    await app?.close().catch(() => undefined);
    process.exit(1);
  }
}

/** A ConfigError's or EnvironmentError's problems each on their own line; any other error as its first line only. */
function failureLines(error: unknown): string[] {
  if (error instanceof EnvironmentError)
    return error.issues.map(({ variable, message }) => redact(`${variable}: ${message}`));
  if (!(error instanceof ConfigError)) return [errorData(error).message];
  return error.issues.map(({ path, message }) => redact(path === '' ? message : `${path}: ${message}`));
}
