import { Global, Module, type DynamicModule } from '@nestjs/common';
import { loadConfig, type LoadConfigOptions } from './load-config';
import { assertServiceEnv } from './service-needs';

/** Injection token for the LoadedConfig: `@Inject(TIDEMARK_CONFIG) config: LoadedConfig`. */
export const TIDEMARK_CONFIG = 'TIDEMARK_CONFIG';
/**
 * Injection token for the environment the config was loaded with (`process.env` in the services; the CLI's own,
 * with local Azurite filled in): `@Inject(TIDEMARK_ENV) env: NodeJS.ProcessEnv`.
 */
export const TIDEMARK_ENV = 'TIDEMARK_ENV';

export interface ConfigModuleOptions extends LoadConfigOptions {
  /** The service being started: one that opens targets also needs every `${VAR}` of their urls set. */
  service?: string;
}

@Global()
@Module({})
export class ConfigModule {
  /** Loads the config while the app boots; a bad config makes bootstrap fail with the ConfigError. */
  static forRoot(options: ConfigModuleOptions = {}): DynamicModule {
    const { service, ...load } = options;
    return {
      module: ConfigModule,
      global: true,
      providers: [
        {
          provide: TIDEMARK_CONFIG,
          useFactory: () => {
            const config = loadConfig(load);
            if (service !== undefined) assertServiceEnv(config, service, load.env ?? process.env);
            return config;
          },
        },
        { provide: TIDEMARK_ENV, useValue: load.env ?? process.env },
      ],
      exports: [TIDEMARK_CONFIG, TIDEMARK_ENV],
    };
  }
}
