import 'reflect-metadata';
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError } from '@tidemark/policy';
import { ConfigModule, TIDEMARK_CONFIG } from './config.module';
import type { LoadedConfig } from './load-config';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-config-module-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

@Injectable()
class NeedsConfig {
  constructor(@Inject(TIDEMARK_CONFIG) readonly config: LoadedConfig) {}
}

// A feature module that does not import ConfigModule itself: the token must come from the global module.
@Module({ providers: [NeedsConfig], exports: [NeedsConfig] })
class FeatureModule {}

// Nest would otherwise exit the process on a bootstrap error instead of rejecting. Nest types its option bag
// as a class it never instantiates itself, so a literal is the intended use.
// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
const quiet: Parameters<typeof NestFactory.createApplicationContext>[1] = {
  logger: false,
  abortOnError: false,
};

function appModule(
  path: string,
  options: { service?: string; env?: NodeJS.ProcessEnv } = {},
): new () => unknown {
  @Module({ imports: [ConfigModule.forRoot({ path, env: {}, ...options }), FeatureModule] })
  class AppModule {}
  return AppModule;
}

describe('ConfigModule', () => {
  test('provides the loaded config globally under TIDEMARK_CONFIG', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(
      file,
      'policies:\n  standard:\n    schedule: "0 2 * * *"\ntargets:\n  - { id: a, kind: postgres, url: "${A_URL}", policy: standard }\n',
    );
    const app = await NestFactory.createApplicationContext(appModule(file), quiet);
    try {
      const { config } = app.get(NeedsConfig);
      assert.equal(config.source, file);
      assert.equal(config.targets[0]?.id, 'a');
      assert.equal(config.local.path, join(dir, '.tidemark', 'backups'));
    } finally {
      await app.close();
    }
  });

  test('a bad config makes bootstrap fail with the ConfigError', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'policies: {}\ntargets: []\n');
    await assert.rejects(
      NestFactory.createApplicationContext(appModule(file), quiet),
      (error: unknown) =>
        error instanceof ConfigError && error.message === 'targets: at least one target is required',
    );
  });

  describe('a service that opens targets needs their variables at start', () => {
    const file = join(dir, 'secrets.yaml');
    writeFileSync(
      file,
      'policies:\n  standard:\n    schedule: "0 2 * * *"\ntargets:\n  - { id: orders-db, kind: postgres, url: "${ORDERS_DB_URL}", policy: standard }\n',
    );

    for (const service of ['dumper', 'verifier']) {
      test(`${service}: an unset variable fails bootstrap with one line naming it and the target`, async () => {
        await assert.rejects(
          NestFactory.createApplicationContext(appModule(file, { service }), quiet),
          (error: unknown) =>
            error instanceof ConfigError &&
            error.message === 'targets[0].url (orders-db): environment variable ORDERS_DB_URL is not set',
        );
      });
    }

    test('a set variable whose value is not a url of the kind fails too, without the value', async () => {
      const env = { ORDERS_DB_URL: 'mysql://root:Hunter2-s3cret@db/orders' };
      await assert.rejects(
        NestFactory.createApplicationContext(appModule(file, { service: 'dumper', env }), quiet),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message ===
            'targets[0].url (orders-db): environment variable ORDERS_DB_URL is not a valid PostgreSQL URL: it must start with postgres:// or postgresql://',
      );
    });

    test('with the variable set the service starts', async () => {
      const env = { ORDERS_DB_URL: 'postgres://app@db/orders' };
      const app = await NestFactory.createApplicationContext(
        appModule(file, { service: 'dumper', env }),
        quiet,
      );
      await app.close();
    });

    for (const service of ['scheduler', 'uploader', 'retention', undefined]) {
      test(`${service ?? 'no service'}: never opens a target, so it starts without the variable`, async () => {
        const app = await NestFactory.createApplicationContext(
          appModule(file, service === undefined ? {} : { service }),
          quiet,
        );
        assert.equal(app.get(NeedsConfig).config.targets[0]?.url, '${ORDERS_DB_URL}');
        await app.close();
      });
    }
  });

  describe('the dumper needs the ${VAR} recipients of encrypting policies at start', () => {
    const file = join(dir, 'sealed.yaml');
    writeFileSync(
      file,
      'policies:\n  sealed:\n    schedule: "0 2 * * *"\n    encryption: { recipients: ["${OPS_RECIPIENT}"], identity: "${AGE_IDENTITY}" }\ntargets:\n  - { id: files, kind: sqlite, url: /data/app.db, policy: sealed }\n',
    );

    test('unset: bootstrap fails with one line naming the recipient', async () => {
      await assert.rejects(
        NestFactory.createApplicationContext(appModule(file, { service: 'dumper' }), quiet),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message ===
            'policies.sealed.encryption.recipients[0]: environment variable OPS_RECIPIENT is not set',
      );
    });

    test('set, dumper and verifier start; the verifier needs neither it nor the identity (then: unverifiable)', async () => {
      const env = { OPS_RECIPIENT: 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p' };
      for (const service of ['dumper', 'verifier']) {
        const app = await NestFactory.createApplicationContext(appModule(file, { service, env }), quiet);
        await app.close();
      }
      const verifier = await NestFactory.createApplicationContext(
        appModule(file, { service: 'verifier' }),
        quiet,
      );
      await verifier.close();
    });
  });
});
