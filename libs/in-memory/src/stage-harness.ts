import { Logger } from '@nestjs/common';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { loadConfig, type LoadedConfig } from '@tidemark/config';
import { DumpService } from '@tidemark/dumping';
import { EventPublisher } from '@tidemark/events';
import type { Stage } from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import { Pipeline } from '@tidemark/pipeline';
import { isLastAttempt, JOBS, parseJob, type JobSpec, type StageRetrySpec } from '@tidemark/queues';
import { LocalTier } from '@tidemark/storage';
import { UploadService } from '@tidemark/uploading';
import { ScratchCleaner, ScratchLeases, VerifyService } from '@tidemark/verification';
import { Redis } from 'ioredis';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore, type MemoryBlobStoreOptions } from '@tidemark/testing-storage';
import { MemoryEventBus } from './memory-event-bus';
import { MemoryLock } from './memory-lock';
import { MemoryPendingFailures } from './memory-pending-failures';
import { SyncJobQueues, type JobHandlers, type MemoryJob } from './sync-job-queues';

/** The stage a job's final failure fails (part jobs heal in the commit: they fail no backup). */
const FAILS_BACKUP: Partial<Record<string, Stage>> = {
  'dump/dump': 'dump',
  'upload/commit': 'upload',
  'verify/verify': 'verify',
};

/**
 * The dumper, uploader, verifier and pipeline wired as the services wire them, on in-memory Blob Storage, queues,
 * lock, event bus and parked failures, with a real local tier in a temporary directory. `drain()` runs every job
 * as the processors would (a busy dump or a commit waiting for parts is put back, a failure is retried as the
 * stage's retry policy says, a final one fails the backup), synchronously, in milliseconds.
 *
 * Restore tests need the scratch leases' Redis, so the config's policies should say `restoreTest: false`: the
 * restore test itself is covered against the real services.
 */
export class StageHarness {
  readonly store: MemoryBlobStore;
  readonly bus = new MemoryEventBus();
  readonly queues = new SyncJobQueues();
  readonly lock = new MemoryLock();
  readonly pending = new MemoryPendingFailures();
  readonly metrics = new TidemarkMetrics('test');
  readonly local: LocalTier;
  readonly manifests: ManifestStore;
  readonly catalog: Catalog;
  readonly pipeline: Pipeline;
  readonly dumps: DumpService;
  readonly uploads: UploadService;
  readonly verifies: VerifyService;
  /** Redis client of the scratch leases: never connected unless a restore test runs. */
  private readonly idleRedis = new Redis({ lazyConnect: true, maxRetriesPerRequest: 0 });

  private constructor(
    readonly config: LoadedConfig,
    readonly dir: string,
    readonly env: NodeJS.ProcessEnv,
    storeOptions: MemoryBlobStoreOptions,
  ) {
    this.store = new MemoryBlobStore('memory', storeOptions);
    this.local = new LocalTier(config.local.path);
    this.manifests = new ManifestStore(this.store, this.local);
    this.catalog = new Catalog(this.store);
    const events = new EventPublisher(this.bus, 'test');
    this.pipeline = new Pipeline(
      this.queues,
      this.lock,
      events,
      this.manifests,
      this.local,
      this.metrics,
      this.pending,
    );
    this.dumps = new DumpService(
      config,
      this.local,
      this.pipeline,
      this.manifests,
      this.metrics,
      this.catalog,
    );
    this.uploads = new UploadService(
      config,
      this.store,
      this.local,
      this.queues,
      this.manifests,
      this.pipeline,
      this.metrics,
    );
    const leases = new ScratchLeases(this.idleRedis);
    this.verifies = new VerifyService(
      config,
      this.store,
      this.catalog,
      this.manifests,
      this.pipeline,
      leases,
      new ScratchCleaner(config, this.idleRedis, leases),
    );
  }

  /**
   * `yaml` is a config file whose `local.path` is `__LOCAL__` (replaced by a directory of the harness);
   * `storeOptions` set up the MemoryBlobStore (e.g. immutability as Azurite answers it, or a clock).
   */
  static async create(
    yaml: string,
    env: NodeJS.ProcessEnv = {},
    storeOptions: MemoryBlobStoreOptions = {},
  ): Promise<StageHarness> {
    // The stages log as in a service; a test reads the facts (events, manifests) instead.
    Logger.overrideLogger(env['TIDEMARK_TEST_LOGS'] ? ['log', 'warn', 'error'] : false);
    const dir = await mkdtemp(join(tmpdir(), 'tidemark-stages-'));
    const file = join(dir, 'tidemark.yaml');
    await writeFile(file, yaml.replaceAll('__LOCAL__', join(dir, 'local')));
    const fullEnv = { ...process.env, TIDEMARK_RETRY_DELAY_MS: '1', ...env };
    return new StageHarness(loadConfig({ path: file, env: fullEnv }), dir, fullEnv, storeOptions);
  }

  /** The processors' handlers, one per job name. */
  get handlers(): JobHandlers {
    return {
      'dump/dump': this.attempt(JOBS.dump, async (data, job) => {
        const outcome = await this.dumps.run(parseJob(JOBS.dump, data), job.attemptsMade, this.env);
        // Busy: another backup holds the target. Interrupted: a shutdown. Either way the job runs again later.
        if (outcome.status === 'busy' || outcome.status === 'interrupted') job.state = 'delayed';
        return outcome;
      }),
      'upload/part': this.attempt(JOBS.uploadPart, (data) =>
        this.uploads.stagePart(parseJob(JOBS.uploadPart, data)),
      ),
      'upload/commit': this.attempt(JOBS.uploadCommit, async (data, job) => {
        const outcome = await this.uploads.commit(parseJob(JOBS.uploadCommit, data));
        if (outcome.status === 'waiting') job.state = 'waiting';
        return outcome;
      }),
      'verify/verify': this.attempt(JOBS.verify, (data) =>
        this.verifies.run(parseJob(JOBS.verify, data), this.env),
      ),
    };
  }

  /** Runs every job until none is left to run. */
  drain(handlers: JobHandlers = this.handlers): Promise<MemoryJob[]> {
    return this.queues.drain(handlers);
  }

  async dispose(): Promise<void> {
    this.idleRedis.disconnect();
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * A stage's retry policy around a handler: a failure with attempts left puts the job back; the last one fails
   * the backup through the pipeline (as StageWorker does) and leaves the job failed with its error.
   */
  private attempt<T>(
    spec: JobSpec<T> & StageRetrySpec,
    handler: (data: unknown, job: MemoryJob) => Promise<unknown>,
  ): (data: unknown, job: MemoryJob) => Promise<unknown> {
    return async (data, job) => {
      try {
        return await handler(data, job);
      } catch (error) {
        if (!isLastAttempt(spec, job.attemptsMade, error)) {
          job.state = 'waiting';
          return undefined;
        }
        const stage = FAILS_BACKUP[`${spec.queue}/${spec.name}`];
        const ids = data as { targetId: string; backupId: string };
        if (stage) await this.pipeline.failed(stage, ids, error, job.attemptsMade);
        throw error;
      }
    };
  }
}
