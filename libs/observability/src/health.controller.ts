import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import { errorData } from '@tidemark/events';
import { TidemarkMetrics } from './metrics';
import { OBSERVABILITY_OPTIONS, type ObservabilityOptions } from './options';
import { ReadinessChecks } from './readiness';

export const READINESS_TIMEOUT_MS = 3000;

interface MetricsResponse {
  type(contentType: string): unknown;
  send(body: string): unknown;
}

@Controller()
export class HealthController {
  constructor(
    @Inject(OBSERVABILITY_OPTIONS) private readonly options: ObservabilityOptions,
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly checks: ReadinessChecks,
    private readonly metrics: TidemarkMetrics,
  ) {}

  @Get('healthz')
  healthz(): { status: 'ok'; service: string } {
    return { status: 'ok', service: this.options.service };
  }

  /** 200 when every registered check passes within the timeout, else 503 naming the failed checks. */
  @Get('readyz')
  readyz(): Promise<HealthCheckResult> {
    return this.health.check(
      this.checks.entries().map(([name, check]) =>
        this.indicators
          .check(name)
          .attempt(async () => {
            try {
              await check();
            } catch (error) {
              // The response is public: only the redacted first line of the failure leaves the process.
              throw new Error(errorData(error).message, { cause: error });
            }
          })
          .withTimeout(READINESS_TIMEOUT_MS),
      ),
    );
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async metricsText(@Res() res: MetricsResponse): Promise<void> {
    const text = await this.metrics.metricsText();
    res.type(this.metrics.contentType);
    res.send(text);
  }
}
