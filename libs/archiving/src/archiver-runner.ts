import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { Catalog } from '@tidemark/catalog';
import { environment } from '@tidemark/environment';
import { EventPublisher, redact } from '@tidemark/events';
import type { AccessTier } from '@tidemark/manifest';
import { TidemarkMetrics } from '@tidemark/observability';
import { walProtection } from '@tidemark/policy';
import { REDIS, RedisLock } from '@tidemark/queues';
import { BLOB_STORE, type BlobStore, type ImmutabilityPolicy } from '@tidemark/storage';
import { WalArchive } from '@tidemark/wal-archive';
import type { Redis } from 'ioredis';
import { ArchiverService } from './archiver-service';
import type { ArchivedTarget } from './archiver-targets';
import { ContinuityWatch } from './continuity-watch';
import { WalTelemetry } from './wal-telemetry';

/** Injection token of the physical targets with their urls resolved (archivedTargets). */
export const ARCHIVED_TARGETS = Symbol('ARCHIVED_TARGETS');
/** Redis lock purpose of the streaming leases: `<key root>:lock:archiver:<targetId>` holds the replica's id. */
export const ARCHIVER_LOCK_PURPOSE = 'archiver';

/**
 * The archiver service's work: on start, takes the lease of every physical target it can and streams it (the
 * others keep trying, so a replica takes over when the holder dies), feeds metrics and events, and checks WAL
 * continuity; on SIGTERM, ships what is complete, hands the leases back and publishes the last events.
 */
@Injectable()
export class ArchiverRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Archiver');
  /** This replica's lease owner id: the host and pid tell a person which pod or process streams a target. */
  readonly owner = `${hostname()}:${String(process.pid)}:${randomBytes(3).toString('hex')}`;
  readonly service: ArchiverService;
  private readonly telemetry: WalTelemetry;
  private readonly continuity: ContinuityWatch;

  constructor(
    @Inject(ARCHIVED_TARGETS) private readonly targets: ArchivedTarget[],
    @Inject(BLOB_STORE) store: BlobStore,
    @Inject(REDIS) redis: Redis,
    catalog: Catalog,
    events: EventPublisher,
    metrics: TidemarkMetrics,
  ) {
    const env = environment();
    const archives = new Map<AccessTier, WalArchive>();
    const archiveOf = (targetId: string): WalArchive => {
      const tier = this.tierOf(targetId);
      const archive = archives.get(tier) ?? new WalArchive(store, { tier });
      archives.set(tier, archive);
      return archive;
    };
    const log = (line: string) => {
      this.logger.log(redact(line));
    };
    this.telemetry = new WalTelemetry({
      metrics,
      events,
      tierOf: (targetId) => this.tierOf(targetId),
      batchMs: env.TIDEMARK_ARCHIVER_EVENT_BATCH_MS,
    });
    for (const target of targets) metrics.walArchiveMaxLag.set({ target: target.id }, target.maxLagSeconds);
    this.service = new ArchiverService({
      targets,
      sink: routedSink(archiveOf, (targetId) => this.targetOf(targetId)),
      lock: new RedisLock(redis, ARCHIVER_LOCK_PURPOSE, env.TIDEMARK_ARCHIVER_LEASE_TTL_MS),
      leaseTtlMs: env.TIDEMARK_ARCHIVER_LEASE_TTL_MS,
      acquireEveryMs: env.TIDEMARK_ARCHIVER_ACQUIRE_INTERVAL_MS,
      owner: this.owner,
      spoolDirectory: env.TIDEMARK_ARCHIVER_SPOOL_DIR,
      onShipped: (batch) => {
        this.telemetry.shipped(batch);
      },
      onFailure: (file, attempts, error, targetId) => {
        this.telemetry.failed(targetId, file, attempts, error);
      },
      onCaughtUp: (targetId, at) => {
        this.telemetry.caughtUp(targetId, at);
      },
      onLeaseTaken: (targetId) => {
        this.logger.log({ msg: 'streaming lease taken', targetId, owner: this.owner });
        this.continuity.checkSoon(targetId);
      },
      log,
    });
    this.continuity = new ContinuityWatch({
      manifests: async (targetId) => (await catalog.list(targetId)).manifests,
      archiveOf,
      events,
      metrics,
      windowDaysOf: (targetId) => this.targetOf(targetId)?.windowDays ?? 7,
      held: () => this.service.streaming(),
      intervalMs: env.TIDEMARK_ARCHIVER_CONTINUITY_INTERVAL_MS,
      log,
    });
  }

  private targetOf(targetId: string): ArchivedTarget | undefined {
    return this.targets.find((target) => target.id === targetId);
  }

  private tierOf(targetId: string): AccessTier {
    return this.targetOf(targetId)?.tier ?? 'Cool';
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.service.start();
    this.logger.log({
      msg: 'archiver started',
      owner: this.owner,
      targets: this.targets.map((target) => target.id),
      streaming: this.service.streaming(),
    });
    this.continuity.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.continuity.stop();
    await this.service.stop();
    await this.telemetry.close();
    this.logger.log({ msg: 'archiver stopped', owner: this.owner });
  }
}

/**
 * The receivers' sink: each target's WAL in the archive of its tier, encrypted when its policy says so, and its
 * segments and history files locked when immutability is configured (partials are replaced, so never locked).
 */
export function routedSink(
  archiveOf: (targetId: string) => WalArchive,
  targetOf: (targetId: string) => ArchivedTarget | undefined,
) {
  const sealed = <T extends { targetId: string }>(input: T): T & { recipients?: readonly string[] } => {
    const recipients = targetOf(input.targetId)?.recipients;
    return recipients ? { ...input, recipients } : input;
  };
  const locked = <T extends { targetId: string; receivedAt: Date }>(
    input: T,
  ): T & { protection?: ImmutabilityPolicy } => {
    const target = targetOf(input.targetId);
    if (!target?.immutability) return input;
    return { ...input, protection: walProtection(input.receivedAt, target.windowDays, target.immutability) };
  };
  return {
    commitSegment: (input: Parameters<WalArchive['commitSegment']>[0]) =>
      archiveOf(input.targetId).commitSegment(locked(sealed(input))),
    commitHistory: (input: Parameters<WalArchive['commitHistory']>[0]) =>
      archiveOf(input.targetId).commitHistory(locked(input)),
    shipPartial: (input: Parameters<WalArchive['shipPartial']>[0]) =>
      archiveOf(input.targetId).shipPartial(sealed(input)),
    removePartial: (...args: Parameters<WalArchive['removePartial']>) =>
      archiveOf(args[0]).removePartial(...args),
    newestSegment: (targetId: string) => archiveOf(targetId).newestSegment(targetId),
  };
}
