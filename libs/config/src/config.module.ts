import { Global, Module, type DynamicModule } from '@nestjs/common';
import { loadConfig, type LoadConfigOptions } from './load-config';
import { assertServiceEnv } from './service-needs';

/** Injection token for the LoadedConfig: `@Inject(TIDEMARK_CONFIG) config: LoadedConfig`. */
export const TIDEMARK_CONFIG = 'TIDEMARK_CONFIG';

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
      ],
      exports: [TIDEMARK_CONFIG],
    };
  }
}
