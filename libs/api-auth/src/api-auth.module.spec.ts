import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Catch,
  Controller,
  Get,
  Global,
  HttpException,
  Module,
  Post,
  type ArgumentsHost,
  type ExceptionFilter,
  type INestApplication,
} from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { TIDEMARK_CONFIG } from '@tidemark/config';
import type { ApiSettings } from '@tidemark/policy';
import { Caller } from './api-auth.guard';
import { ApiAuthModule } from './api-auth.module';
import { hashApiKey } from './api-keys';
import type { Principal } from './principal';

const API: ApiSettings = { metrics: 'token', auth: { apiKeys: [{ name: 'ci', sha256: hashApiKey('k-1') }] } };

@Controller()
class ProbeController {
  @Get('healthz') healthz(): string {
    return 'ok';
  }
  @Get('metrics') metrics(): string {
    return '# metrics';
  }
  @Post('things') create(@Caller() caller: Principal): Principal {
    return caller;
  }
}

/** Like the scheduler's: every exception as a body of its own. The refusal must still be the guard's. */
@Catch()
class CatchAllFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    host
      .switchToHttp()
      .getResponse<{ status(n: number): { json(b: unknown): void } }>()
      .status(status)
      .json({ catchAll: true });
  }
}

@Global()
@Module({ providers: [{ provide: TIDEMARK_CONFIG, useValue: { api: API } }], exports: [TIDEMARK_CONFIG] })
class FakeConfigModule {}

@Module({
  imports: [FakeConfigModule, ApiAuthModule],
  controllers: [ProbeController],
  providers: [{ provide: APP_FILTER, useClass: CatchAllFilter }],
})
class AppModule {}

describe('ApiAuthModule in a Nest app (the guard on every route)', () => {
  let app: INestApplication;
  let base: string;
  before(async () => {
    // Nest declares these options as a class but only ever reads them as a plain object.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });
  after(() => app.close());

  test('probes answer without a token; /metrics needs one with metrics: token', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 401);
    assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer k-1' } })).status, 200);
  });

  test('a refusal is problem details with its challenge, ahead of any catch-all filter', async () => {
    const response = await fetch(`${base}/things`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(response.status, 401);
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.match(
      response.headers.get('www-authenticate') ?? '',
      /^Bearer realm="tidemark", error="invalid_token"/,
    );
    assert.deepEqual(await response.json(), {
      type: 'https://tidemark.dev/problems/401',
      title: 'Unauthorized',
      status: 401,
      detail: 'the token is not a valid API key',
      instance: '/things',
    });
  });

  test('the handler learns who called', async () => {
    const response = await fetch(`${base}/things`, {
      method: 'POST',
      headers: { authorization: 'Bearer k-1' },
    });
    assert.equal(response.status, 201);
    assert.deepEqual(await response.json(), { kind: 'api-key', name: 'ci' });
  });
});
