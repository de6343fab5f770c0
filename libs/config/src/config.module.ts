import { Global, Module, type DynamicModule } from '@nestjs/common';
import { loadConfig, type LoadConfigOptions } from './load-config';

/** Injection token for the LoadedConfig: `@Inject(TIDEMARK_CONFIG) config: LoadedConfig`. */
export const TIDEMARK_CONFIG = 'TIDEMARK_CONFIG';

@Global()
@Module({})
export class ConfigModule {
  /** Loads the config while the app boots; a bad config makes bootstrap fail with the ConfigError. */
  static forRoot(options: LoadConfigOptions = {}): DynamicModule {
    return {
      module: ConfigModule,
      global: true,
      providers: [{ provide: TIDEMARK_CONFIG, useFactory: () => loadConfig(options) }],
      exports: [TIDEMARK_CONFIG],
    };
  }
}
