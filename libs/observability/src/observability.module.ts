import { hostname } from 'node:os';
import type { IncomingMessage } from 'node:http';
import { Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import { environment } from '@tidemark/environment';
import { redact } from '@tidemark/events';
import { HealthController } from './health.controller';
import { TidemarkMetrics } from './metrics';
import { OBSERVABILITY_OPTIONS, QUIET_PATHS, type ObservabilityOptions } from './options';
import { ReadinessChecks } from './readiness';

function isQuiet(req: IncomingMessage): boolean {
  const path = (req.url ?? '').split('?', 1)[0] ?? '';
  return QUIET_PATHS.includes(path);
}

/**
 * The metrics and readiness checks of one process, without logs or HTTP: what the CLI runs with (a service gets
 * them through ObservabilityModule).
 */
@Module({})
export class MetricsModule {
  static forService(options: ObservabilityOptions): DynamicModule {
    return {
      module: MetricsModule,
      global: true,
      providers: [
        { provide: OBSERVABILITY_OPTIONS, useValue: options },
        { provide: TidemarkMetrics, useFactory: () => new TidemarkMetrics(options.service) },
        ReadinessChecks,
      ],
      exports: [TidemarkMetrics, ReadinessChecks, OBSERVABILITY_OPTIONS],
    };
  }
}

/** JSON logs, metrics, /healthz, /readyz and /metrics for one service. */
@Module({})
export class ObservabilityModule {
  static forService(options: ObservabilityOptions): DynamicModule {
    return {
      module: ObservabilityModule,
      global: true,
      imports: [
        MetricsModule.forService(options),
        // A factory, so LOG_LEVEL is read from the environment bootstrapService loaded, not at import time.
        LoggerModule.forRootAsync({
          useFactory: () => ({
            pinoHttp: {
              level: environment().LOG_LEVEL,
              // pid and hostname tell replicas apart; service is what every query filters on.
              base: { service: options.service, pid: process.pid, hostname: hostname() },
              redact: {
                paths: [
                  'req.headers.authorization',
                  'req.headers.cookie',
                  '*.password',
                  '*.connectionString',
                  '*.url',
                ],
                censor: '[redacted]',
              },
              autoLogging: { ignore: isQuiet },
              // The path goes out as `path`, since the `*.url` redaction (meant for database and storage URLs) would hide it;
              // redact() still masks a SAS signature or password in its query string.
              serializers: {
                req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
                  id: req.id,
                  method: req.method,
                  path: redact(req.url),
                  remoteAddress: req.remoteAddress,
                }),
              },
            },
          }),
        }),
        TerminusModule.forRoot({ errorLogStyle: 'json' }),
      ],
      controllers: [HealthController],
      exports: [MetricsModule],
    };
  }
}
