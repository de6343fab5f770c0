import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { BatchingStream, CountingStream, createCompressor, PartWriter } from '@tidemark/artifact';
import { Catalog, ManifestStore } from '@tidemark/catalog';
import { resolveTarget, TIDEMARK_CONFIG, type LoadedConfig, type ResolvedTarget } from '@tidemark/config';
import { AgeEncryptStream, policyEncryption, resolveRecipients } from '@tidemark/encryption';
import {
  fullChain,
  markDumped,
  memberBackupId,
  newManifest,
  nextChainLink,
  partFileName,
  type AgeRecipients,
  type Chain,
  type Manifest,
  type Run,
} from '@tidemark/manifest';
import { TidemarkMetrics, TOOL_VERSION } from '@tidemark/observability';
import { environmentOf } from '@tidemark/environment';
import { Pipeline } from '@tidemark/pipeline';
import { policyOf, targetById, type Target } from '@tidemark/policy';
import { isLastAttempt, JOBS, PermanentJobError, permanent, type DumpJob } from '@tidemark/queues';
import {
  artifactFormat,
  createSource,
  SourceError,
  sourceKind,
  type DumpContext,
  type Source,
  type SourceTarget,
} from '@tidemark/source-kinds';
import { LOCAL_TIER, LocalTier } from '@tidemark/storage';
import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Transform } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';

export type DumpOutcome =
  | { status: 'dumped'; manifest: Manifest }
  /** The service is shutting down: the dump was stopped and the job must run again (here or elsewhere). */
  | { status: 'interrupted' }
  | { status: 'run'; members: { backupId: string; name: string; status: string }[] }
  | { status: 'skipped'; reason: string }
  | { status: 'busy'; holder: string };

/** What one dump (a backup, or a member of a server run) is given. */
interface DumpRequest {
  dumpAttempt: number;
  env: NodeJS.ProcessEnv;
  run?: Run;
  database?: string;
  /** Members of a run: the run holds the target's lock and releases it when all are done. */
  lockHeldBy?: string;
}

/** A dump under way: its source, its manifest so far, and where its files go. */
interface StartedDump {
  source: Source;
  manifest: Manifest;
  dir: string;
  dumpAttempt: number;
  startedAt: Date;
  previous?: DumpContext['previous'];
}

/** The highest run number part names and block ids can carry (two digits). */
const MAX_DUMP_RUN = 99;

/** Thrown inside a dump stopped by shutdown; `run` turns it into the `interrupted` outcome. */
class DumpInterrupted extends Error {
  constructor() {
    super('the dumper is shutting down; the dump was stopped and will run again');
  }
}

function partSize(env: NodeJS.ProcessEnv): number {
  return environmentOf(env).TIDEMARK_PART_SIZE_MB * 1024 * 1024;
}

/**
 * One dump: pre-checks, then `dump tool → count → compress → part files` in a single pass with bounded memory.
 * Each part is handed to the uploader the moment it is on disk, so upload overlaps the dump.
 */
@Injectable()
export class DumpService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(DumpService.name);
  /** Aborted on SIGTERM: a running dump stops at once instead of holding the shutdown for as long as it lasts. */
  private readonly stopping = new AbortController();

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
    private readonly pipeline: Pipeline,
    private readonly manifests: ManifestStore,
    private readonly metrics: TidemarkMetrics,
    private readonly catalog: Catalog,
  ) {}

  /**
   * Runs before the workers are closed (which waits for the active job): the dump tool is killed, and the job goes
   * back to the queue without using up an attempt, so a rolling restart never waits for, nor fails, a long dump.
   */
  beforeApplicationShutdown(): void {
    this.stopping.abort();
  }

  async run(job: DumpJob, dumpAttempt: number, env: NodeJS.ProcessEnv = process.env): Promise<DumpOutcome> {
    try {
      return await this.runJob(job, dumpAttempt, env);
    } catch (error) {
      if (!(error instanceof DumpInterrupted)) throw error;
      this.logger.warn({ targetId: job.targetId, backupId: job.backupId }, error.message);
      return { status: 'interrupted' };
    }
  }

  private async runJob(job: DumpJob, dumpAttempt: number, env: NodeJS.ProcessEnv): Promise<DumpOutcome> {
    const { targetId, backupId } = job;
    // A job fetched while the worker was already closing must not start a run: it would take a run number (and
    // rewrite the manifest) for a dump that is aborted at once.
    if (this.stopping.signal.aborted) throw new DumpInterrupted();
    let target: Target;
    let resolved: ResolvedTarget;
    try {
      target = targetById(this.config, targetId);
      resolved = resolveTarget(this.config, targetId, env);
    } catch (error) {
      throw permanent(error, 'config');
    }
    const holder = await this.pipeline.claimTarget(targetId, backupId);
    if (holder !== backupId) return { status: 'busy', holder };
    if (sourceKind(resolved.kind).runs?.isRun(resolved.options)) {
      return this.runServer(job, target, resolved, dumpAttempt, env);
    }
    return this.dumpOne(job, target, resolved, { dumpAttempt, env });
  }

  /**
   * A server target: the cluster's roles first, then one backup per database, each its own backup (manifest,
   * verification, retention) under one run id. Members already dumped by an earlier attempt are skipped; a member
   * that fails for good is recorded failed and the others go on.
   */
  private async runServer(
    job: DumpJob,
    target: Target,
    resolved: ResolvedTarget,
    dumpAttempt: number,
    env: NodeJS.ProcessEnv,
  ): Promise<DumpOutcome> {
    const { targetId, backupId: runId } = job;
    const runs = sourceKind(resolved.kind).runs;
    const listed = runs
      ? await runs.members(resolved, env).catch((error: unknown) => {
          throw asJobError(error);
        })
      : [];
    const members = listed.map((member) => ({ ...member, backupId: memberBackupId(runId, member.name) }));
    const run = (role: Run['role']): Run => ({ id: runId, role, members: members.map((m) => m.backupId) });
    const outcomes: { backupId: string; name: string; status: string }[] = [];
    for (const member of members) {
      const memberTarget: SourceTarget = runs ? runs.memberTarget(resolved, member) : resolved;
      try {
        const outcome = await this.dumpOne({ ...job, backupId: member.backupId }, target, memberTarget, {
          dumpAttempt,
          env,
          run: run(member.role),
          database: member.name,
          lockHeldBy: runId,
        });
        outcomes.push({ backupId: member.backupId, name: member.name, status: outcome.status });
      } catch (error) {
        if (error instanceof DumpInterrupted) throw error;
        const final = isLastAttempt(JOBS.dump, dumpAttempt, error);
        if (!final) throw error;
        await this.pipeline.failed('dump', { targetId, backupId: member.backupId }, error, dumpAttempt);
        outcomes.push({ backupId: member.backupId, name: member.name, status: 'failed' });
      }
    }
    await this.pipeline.runDumped(targetId, runId);
    this.logger.log({ targetId, runId, members: outcomes }, 'server run dumped');
    return { status: 'run', members: outcomes };
  }

  private async dumpOne(
    job: DumpJob,
    target: Target,
    sourceTarget: SourceTarget,
    request: DumpRequest,
  ): Promise<DumpOutcome> {
    const { targetId, backupId } = job;
    // Idempotency: a retried or duplicated job must not dump twice what is already done. Only the local tier is
    // consulted, so dumps go on while Blob Storage is unreachable.
    const existing = await this.manifests.readLocal(targetId, backupId);
    if (existing?.status === 'dumped') {
      await this.pipeline.dumped(existing, existing.artifact.dumpAttempt, null);
      return { status: 'skipped', reason: 'already dumped' };
    }
    if (existing && existing.status !== 'dumping')
      return { status: 'skipped', reason: `already ${existing.status}` };
    const dump = await this.start(job, target, sourceTarget, request, existing);
    const holder = request.lockHeldBy ?? backupId;
    const release = this.pipeline.holdTarget(targetId, holder);
    let manifest: Manifest;
    try {
      manifest = await this.stream(dump, policyOf(this.config, target).compression, request.env);
    } finally {
      release();
    }
    const durationMs = Date.now() - dump.startedAt.getTime();
    this.logger.log(
      {
        targetId,
        backupId,
        rawBytes: manifest.artifact.rawSize,
        bytes: manifest.artifact.size,
        parts: manifest.artifact.parts.length,
        durationMs,
      },
      'dump complete',
    );
    await this.pipeline.dumped(manifest, dump.dumpAttempt, durationMs);
    return { status: 'dumped', manifest };
  }

  /**
   * Starts a run of a dump: its run number, a clean backup directory, the `dumping` manifest on the local tier, the
   * source's pre-check, and the disk check. A run that died midway left partial parts: they are removed first.
   */
  private async start(
    job: DumpJob,
    target: Target,
    sourceTarget: SourceTarget,
    request: DumpRequest,
    existing: Manifest | null,
  ): Promise<StartedDump> {
    const { targetId, backupId } = job;
    const dumpAttempt = dumpRun(request.dumpAttempt, existing);
    await this.local.removeBackup(targetId, backupId);
    const dir = await this.local.ensureBackupDir(targetId, backupId);
    const startedAt = new Date();
    const source = this.createSource(sourceTarget, request.env);
    const encryption = this.recipients(target, request.env);
    const link = await this.chainLink(target, backupId);
    let manifest = newManifest({
      backupId,
      target: {
        id: targetId,
        kind: target.kind,
        database: request.database ?? databaseName(sourceTarget),
        serverVersion: null,
      },
      policy: target.policy,
      trigger: job.trigger,
      requestedAt: new Date(job.requestedAt),
      startedAt,
      format: artifactFormat(target.kind, source.format),
      compression: policyOf(this.config, target).compression,
      encryption,
      localPath: dir,
      dumpAttempt,
      tool: { name: 'tidemark', version: TOOL_VERSION, hostname: hostname(), dumpTool: null },
    });
    if (link) manifest = { ...manifest, chain: link.chain };
    if (request.run) manifest = { ...manifest, run: request.run };
    await this.saveLocal(manifest);

    const info = await source.preCheck().catch((error: unknown) => {
      throw asJobError(error);
    });
    manifest = {
      ...manifest,
      target: {
        ...manifest.target,
        database: request.database ?? info.database,
        host: info.host,
        serverVersion: info.serverVersion,
      },
      tool: { ...manifest.tool, dumpTool: info.dumpTool },
    };
    // Some formats stage a full copy in the work directory before the compressed parts are written.
    const needed = sourceKind(sourceTarget.kind).localBytes(source.format, info.estimatedBytes);
    await this.checkDisk(targetId, backupId, needed);
    await this.saveLocal(manifest);
    return {
      source,
      manifest,
      dir,
      dumpAttempt,
      startedAt,
      ...(link?.previous ? { previous: link.previous } : {}),
    };
  }

  /**
   * `dump tool → count → compress → part files` in one pass; each closed part is handed to the uploader at once.
   * A shutdown kills the tool and turns the failure into {@link DumpInterrupted}. Returns the `dumped` manifest.
   */
  private async stream(
    dump: StartedDump,
    compression: Manifest['artifact']['compression'],
    env: NodeJS.ProcessEnv,
  ): Promise<Manifest> {
    const { manifest, dir, dumpAttempt } = dump;
    const { id: targetId } = manifest.target;
    const { backupId } = manifest;
    const workDir = join(dir, 'work');
    await mkdir(workDir, { recursive: true });
    const context: DumpContext = {
      backupId,
      workDir,
      compression,
      ...(dump.previous ? { previous: dump.previous } : {}),
    };
    const handle = await dump.source.dump(context).catch((error: unknown) => {
      throw asJobError(error);
    });
    const stop = (): void => {
      handle.abort();
    };
    if (this.stopping.signal.aborted) stop();
    else this.stopping.signal.addEventListener('abort', stop, { once: true });
    const counter = new CountingStream();
    const writer = new PartWriter({
      dir,
      fileName: (part) => partFileName(manifest.artifact.name, dumpAttempt, part),
      partSize: partSize(env),
      onPart: (part) => this.pipeline.partClosed({ backupId, targetId, part: part.index, dumpAttempt }),
    });
    // Encryption comes after compression (encrypted bytes do not compress) and before the parts' sha256, so the
    // checksum is of the stored blob: `dump → zstd → age → sha256 → parts`.
    const recipients = manifest.artifact.age?.recipients;
    const sealing: Transform[] = recipients ? [new AgeEncryptStream(recipients)] : [];
    // A stream the tool compressed itself goes to the parts as it is (encrypted, if the policy says so).
    const packing: Transform[] = handle.precompressed
      ? sealing
      : [counter, new BatchingStream(), createCompressor(compression), ...sealing];
    try {
      await Promise.all([pipe([handle.stdout, ...packing, writer]), handle.finished]);
    } catch (error) {
      handle.abort();
      if (this.stopping.signal.aborted) throw new DumpInterrupted();
      throw error;
    } finally {
      this.stopping.signal.removeEventListener('abort', stop);
      await rm(workDir, { recursive: true, force: true });
    }
    const content = await handle.content;
    const dumped = markDumped(
      { ...manifest, content },
      {
        size: writer.bytes,
        rawSize: handle.precompressed?.rawBytes() ?? counter.bytes,
        sha256: writer.sha256(),
        md5: writer.md5(),
        parts: writer.parts,
      },
      new Date(),
    );
    await this.saveLocal(dumped);
    return dumped;
  }

  private async saveLocal(manifest: Manifest): Promise<void> {
    await this.manifests.transitionLocal(manifest.target.id, manifest.backupId, () => manifest);
  }

  /**
   * Chain kinds: which backup this one builds on. Without `incremental` every backup is a full (a chain of one),
   * so restore and retention treat every chain kind alike. An incremental needs the last backup's listing from
   * the catalog (Blob Storage).
   */
  private async chainLink(
    target: Target,
    backupId: string,
  ): Promise<{
    chain: Chain;
    previous?: { backupId: string; files: NonNullable<Manifest['content']['files']> };
  } | null> {
    if (!sourceKind(target.kind).chains) return null;
    const fullEvery = target.incremental?.fullEvery ?? 1;
    if (fullEvery <= 1) return { chain: fullChain(backupId) };
    let manifests: Manifest[];
    try {
      ({ manifests } = await this.catalog.list(target.id));
    } catch (error) {
      // Dumps go on while Blob Storage is down: without the last listing, take a full (a chain of its own).
      this.logger.warn(
        { targetId: target.id, backupId, err: String(error) },
        'catalog unreachable: taking a full backup instead of an incremental',
      );
      return { chain: fullChain(backupId) };
    }
    const link = nextChainLink(manifests, fullEvery);
    if (!link) return { chain: fullChain(backupId) };
    return {
      chain: link.chain,
      previous: { backupId: link.previous.backupId, files: link.previous.content.files ?? [] },
    };
  }

  /** The dump must fit with the configured reserve to spare; the database size is a safe upper bound. */
  private async checkDisk(targetId: string, backupId: string, estimatedBytes: number): Promise<void> {
    const free = await this.local.freeBytes();
    this.metrics.localFreeBytes.set(free);
    const reserve = this.config.local.minFreeBytes;
    if (free - estimatedBytes >= reserve) return;
    await this.pipeline.lowDisk(
      { targetId, backupId },
      { free, needed: estimatedBytes, reserve },
      this.config.local.path,
    );
    throw new PermanentJobError(
      'disk-low',
      `local tier ${this.config.local.path} has ${mib(free)} free; the dump needs up to ${mib(estimatedBytes)} plus the ${mib(reserve)} reserve (local.minFreeBytes)`,
    );
  }

  /** The policy's public recipients, `${ENV}` filled in; undefined when it does not encrypt. */
  private recipients(target: Target, env: NodeJS.ProcessEnv): AgeRecipients | undefined {
    const policy = policyEncryption(this.config, target);
    if (!policy) return undefined;
    try {
      return resolveRecipients(policy.encryption, env, policy.path);
    } catch (error) {
      throw permanent(error, 'config');
    }
  }

  private createSource(target: SourceTarget, env: NodeJS.ProcessEnv): Source {
    try {
      return createSource(target, { env });
    } catch (error) {
      throw permanent(error);
    }
  }
}

/**
 * The run number of this dump: the job's attempt, or past it when a run of the same attempt died midway (SIGKILL,
 * a lost node: BullMQ re-runs a stalled job without counting an attempt). Its part files and block ids then never
 * collide with the dead run's, whose part jobs may still be staging blocks from the old files.
 */
function dumpRun(attempt: number, existing: Manifest | null): number {
  if (existing?.status !== 'dumping') return attempt;
  return Math.min(MAX_DUMP_RUN, Math.max(attempt, existing.artifact.dumpAttempt + 1));
}

/** A source failure no retry mends becomes a permanent job failure; anything else is retried. */
function asJobError(error: unknown): unknown {
  return error instanceof SourceError && !error.retryable ? permanent(error) : error;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/** A first label for the manifest until the pre-check names it; never the url itself (it may hold a secret). */
function databaseName(target: SourceTarget): string {
  return sourceKind(target.kind).databaseLabel(target.url);
}
