import { Module } from '@nestjs/common';
import { TIDEMARK_CONFIG, TIDEMARK_ENV } from '@tidemark/config';
import type { TidemarkConfig } from '@tidemark/policy';
import { ARCHIVED_TARGETS, ArchiverRunner } from './archiver-runner';
import { archivedTargets } from './archiver-targets';

/**
 * The archiver service's feature: the physical targets (resolved while the app is created, so a missing secret
 * stops the start with one line) and the runner that streams them. Needs the ServiceRuntimeModule's global
 * modules (config, storage, catalog, Redis, events, metrics).
 */
@Module({
  providers: [
    {
      provide: ARCHIVED_TARGETS,
      inject: [TIDEMARK_CONFIG, TIDEMARK_ENV],
      useFactory: (config: TidemarkConfig, env: NodeJS.ProcessEnv) => archivedTargets(config, env),
    },
    ArchiverRunner,
  ],
  exports: [ArchiverRunner],
})
export class ArchivingModule {}
