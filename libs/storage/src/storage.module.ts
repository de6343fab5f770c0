import { Global, Inject, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { TIDEMARK_CONFIG, TIDEMARK_ENV, type LoadedConfig } from '@tidemark/config';
import { ReadinessChecks } from '@tidemark/observability';
import type { BlobStore } from './blob-store';
import { checkContainerProtection } from './container-protection';
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

/**
 * A service's storage: BlobStorageModule, checked by /readyz, and the container created at start. When the config
 * asks for immutable backups, a container that says it has no version-level immutability keeps the service
 * unready (with the reason in the log and in /readyz), since every backup it took would be unprotected.
 */
@Module({ imports: [BlobStorageModule], exports: [BlobStorageModule] })
export class StorageModule implements OnModuleInit {
  private readonly logger = new Logger('Storage');
  private protectionProblem: string | undefined;

  constructor(
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    private readonly readiness: ReadinessChecks,
  ) {}

  async onModuleInit(): Promise<void> {
    this.readiness.register('storage', async () => {
      await this.store.ping();
      if (this.protectionProblem) throw new Error(this.protectionProblem);
    });
    // Creating the container is idempotent; a service that starts before Blob Storage answers retries in its jobs.
    await this.store.ensureContainer().catch(() => undefined);
    // Unreachable storage is the readiness ping's to report; this only reads what the container says of itself.
    const finding = await checkContainerProtection(this.config, this.store).catch(() => null);
    if (finding?.level === 'error') {
      this.protectionProblem = finding.message;
      this.logger.error(finding.message);
    } else if (finding) this.logger.warn(finding.message);
  }
}
