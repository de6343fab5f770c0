import { Inject, Injectable, Logger } from '@nestjs/common';
import { CountingStream, createCompressor, PartWriter } from '@tidemark/artifact';
import { resolveTargetUrl, TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { EventPublisher } from '@tidemark/events';
import { markDumped, newManifest, partFileName, type Manifest } from '@tidemark/manifest';
import { TidemarkMetrics, TOOL_VERSION } from '@tidemark/observability';
import { Pipeline, TargetLock } from '@tidemark/pipeline';
import { policyOf, targetById } from '@tidemark/policy';
import { PermanentJobError, permanent, type DumpJob } from '@tidemark/queues';
import { createSource, SourceError, type Source } from '@tidemark/sources';
import { LOCAL_TIER, LocalTier } from '@tidemark/storage';
import { hostname } from 'node:os';
import { pipeline as pipe } from 'node:stream/promises';

export type DumpOutcome =
  | { status: 'dumped'; manifest: Manifest }
  | { status: 'skipped'; reason: string }
  | { status: 'busy'; holder: string };

/** Source failures that no retry mends; anything else (unreachable, a dump that broke off) is retried. */
const PERMANENT_SOURCE_ERRORS = new Set([
  'source-auth',
  'source-missing-database',
  'tool-missing',
  'tool-too-old',
  'unsupported-kind',
  'invalid-url',
]);

function partSize(env: NodeJS.ProcessEnv): number {
  const mb = Number(env['TIDEMARK_PART_SIZE_MB']);
  // 16 MiB: small enough that the upload of the last part adds little after the dump ends.
  return (Number.isFinite(mb) && mb > 0 ? mb : 16) * 1024 * 1024;
}

/**
 * One dump: pre-checks, then `dump tool → count → compress → part files` in a single pass with bounded memory.
 * Each part is handed to the uploader the moment it is on disk, so upload overlaps the dump.
 */
@Injectable()
export class DumpService {
  private readonly logger = new Logger(DumpService.name);

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
    private readonly pipeline: Pipeline,
    private readonly lock: TargetLock,
    private readonly events: EventPublisher,
    private readonly metrics: TidemarkMetrics,
  ) {}

  async run(job: DumpJob, dumpAttempt: number, env: NodeJS.ProcessEnv = process.env): Promise<DumpOutcome> {
    const { targetId, backupId } = job;
    let target;
    let url: string;
    try {
      target = targetById(this.config, targetId);
      url = resolveTargetUrl(this.config, targetId, env);
    } catch (error) {
      throw permanent(error, 'config');
    }
    const policy = policyOf(this.config, target);

    const holder = await this.lock.acquire(targetId, backupId);
    if (holder !== backupId) return { status: 'busy', holder };

    // Idempotency: a retried or duplicated job must not dump twice what is already done. Only the local tier is
    // consulted, so dumps go on while Blob Storage is unreachable.
    const existing = await this.local.readManifest(targetId, backupId);
    if (existing?.status === 'dumped') {
      await this.pipeline.dumped(existing, existing.artifact.dumpAttempt, 0);
      return { status: 'skipped', reason: 'already dumped' };
    }
    if (existing && existing.status !== 'dumping')
      return { status: 'skipped', reason: `already ${existing.status}` };
    // A run that died midway left partial parts: start clean.
    await this.local.removeBackup(targetId, backupId);
    const dir = await this.local.ensureBackupDir(targetId, backupId);

    const startedAt = new Date();
    const source = this.createSource(target.kind, url, env);
    let manifest = newManifest({
      backupId,
      target: { id: targetId, kind: target.kind, database: databaseName(url), serverVersion: null },
      policy: target.policy,
      trigger: job.trigger,
      requestedAt: new Date(job.requestedAt),
      startedAt,
      format: source.format,
      compression: policy.compression,
      localPath: dir,
      dumpAttempt,
      tool: { name: 'tidemark', version: TOOL_VERSION, hostname: hostname(), dumpTool: null },
    });
    await this.local.writeManifest(manifest);

    const info = await source.preCheck().catch((error: unknown) => {
      throw error instanceof SourceError && PERMANENT_SOURCE_ERRORS.has(error.code)
        ? permanent(error)
        : error;
    });
    manifest = {
      ...manifest,
      target: {
        ...manifest.target,
        database: info.database,
        host: info.host,
        serverVersion: info.serverVersion,
      },
      tool: { ...manifest.tool, dumpTool: info.dumpTool },
    };
    await this.checkDisk(targetId, backupId, info.estimatedBytes);
    await this.local.writeManifest(manifest);

    const renew = setInterval(() => {
      this.lock.extend(targetId, backupId).catch((error: unknown) => {
        this.logger.warn({ targetId, backupId, err: String(error) }, 'could not extend the dump lock');
      });
    }, 60_000);
    const handle = await source.dump();
    const counter = new CountingStream();
    const writer = new PartWriter({
      dir,
      fileName: (part) => partFileName(manifest.artifact.name, dumpAttempt, part),
      partSize: partSize(env),
      onPart: (part) => this.pipeline.partClosed({ backupId, targetId, part: part.index, dumpAttempt }),
    });
    try {
      await Promise.all([
        pipe(handle.stdout, counter, createCompressor(policy.compression), writer),
        handle.finished,
      ]);
    } catch (error) {
      handle.abort();
      throw error;
    } finally {
      clearInterval(renew);
    }
    const tables = await handle.tables;
    const dumpedAt = new Date();
    manifest = markDumped(
      { ...manifest, content: { tables } },
      { size: writer.bytes, rawSize: counter.bytes, sha256: writer.sha256(), parts: writer.parts },
      dumpedAt,
    );
    await this.local.writeManifest(manifest);

    const durationMs = dumpedAt.getTime() - startedAt.getTime();
    this.metrics.backupDuration.observe({ target: targetId, stage: 'dump' }, durationMs / 1000);
    this.metrics.backupSize.set({ target: targetId }, writer.bytes);
    this.metrics.backupsTotal.inc({ target: targetId, stage: 'dump', result: 'success' });
    this.logger.log(
      {
        targetId,
        backupId,
        rawBytes: counter.bytes,
        bytes: writer.bytes,
        parts: writer.parts.length,
        durationMs,
      },
      'dump complete',
    );
    await this.pipeline.dumped(manifest, dumpAttempt, durationMs);
    return { status: 'dumped', manifest };
  }

  /** The dump must fit with the configured reserve to spare; the database size is a safe upper bound. */
  private async checkDisk(targetId: string, backupId: string, estimatedBytes: number): Promise<void> {
    const free = await this.local.freeBytes();
    this.metrics.localFreeBytes.set(free);
    const reserve = this.config.local.minFreeBytes;
    if (free - estimatedBytes >= reserve) return;
    await this.events.emit(
      'tidemark.storage.low_disk',
      targetId,
      backupId,
      { stage: 'dump', sizes: { free, needed: estimatedBytes, reserve }, path: this.config.local.path },
      'warning',
    );
    throw new PermanentJobError(
      'disk-low',
      `local tier ${this.config.local.path} has ${mib(free)} free; the dump needs up to ${mib(estimatedBytes)} plus the ${mib(reserve)} reserve (local.minFreeBytes)`,
    );
  }

  private createSource(kind: string, url: string, env: NodeJS.ProcessEnv): Source {
    try {
      return createSource({ kind, url }, { env });
    } catch (error) {
      throw permanent(error);
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

function databaseName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'unknown';
  } catch {
    return 'unknown';
  }
}
