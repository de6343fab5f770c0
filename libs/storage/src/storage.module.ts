import { Global, Inject, Module, type OnModuleInit } from '@nestjs/common';
import { TIDEMARK_CONFIG, TIDEMARK_ENV, type LoadedConfig } from '@tidemark/config';
import { ReadinessChecks } from '@tidemark/observability';
import type { BlobStore } from './blob-store';
import { createBlobStore } from './create-blob-store';
import { LocalTier } from './local-tier';

export const BLOB_STORE = Symbol('BLOB_STORE');
export const LOCAL_TIER = Symbol('LOCAL_TIER');

/**
 * Blob Storage (container from the config, credentials from the environment) and the local tier, with nothing done
 * at start: what the CLI reads and writes with.
 */
@Global()
@Module({
  providers: [
    {
      provide: BLOB_STORE,
      inject: [TIDEMARK_CONFIG, TIDEMARK_ENV],
      useFactory: (config: LoadedConfig, env: NodeJS.ProcessEnv): BlobStore =>
        createBlobStore({ container: config.storage.container, env }),
    },
    {
      provide: LOCAL_TIER,
      inject: [TIDEMARK_CONFIG],
      useFactory: (config: LoadedConfig) => new LocalTier(config.local.path),
    },
  ],
  exports: [BLOB_STORE, LOCAL_TIER],
})
export class BlobStorageModule {}

/** A service's storage: BlobStorageModule, checked by /readyz, and the container created at start. */
@Module({ imports: [BlobStorageModule], exports: [BlobStorageModule] })
export class StorageModule implements OnModuleInit {
  constructor(
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly readiness: ReadinessChecks,
  ) {}

  async onModuleInit(): Promise<void> {
    this.readiness.register('storage', () => this.store.ping());
    // Creating the container is idempotent; a service that starts before Blob Storage answers retries in its jobs.
    await this.store.ensureContainer().catch(() => undefined);
  }
}
