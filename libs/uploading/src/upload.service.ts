import { Inject, Injectable, Logger } from '@nestjs/common';
import { ManifestStore } from '@tidemark/catalog';
import { forEachLimit } from '@tidemark/concurrency';
import { TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import {
  artifactBlobName,
  backupIdTime,
  BLOCK_SIZE,
  markUploaded,
  partBlockIds,
  partFileName,
  type Manifest,
  type Part,
} from '@tidemark/manifest';
import { TidemarkMetrics, TOOL_VERSION } from '@tidemark/observability';
import { Pipeline } from '@tidemark/pipeline';
import { commitProtection, immutabilityOf, policyOf, targetById } from '@tidemark/policy';
import {
  JOB_QUEUES,
  JOBS,
  LIVE_JOB_STATES,
  partJobId,
  PermanentJobError,
  type JobQueues,
  type UploadCommitJob,
  type UploadPartJob,
} from '@tidemark/queues';
import { BLOB_STORE, LOCAL_TIER, LocalTier, StorageError, type BlobStore } from '@tidemark/storage';
import { open } from 'node:fs/promises';

export type CommitOutcome =
  { status: 'committed'; manifest: Manifest } | { status: 'waiting'; parts: number[] };

/** Blocks of one part staged at once: bounds memory at this many blocks per running part job. */
const BLOCK_CONCURRENCY = 4;

/**
 * Moves parts from the local tier into one block blob. Part jobs stage blocks as parts appear; the commit job
 * stages whatever is still missing, commits the block list once, and writes the manifest beside the blob.
 * Every step can run again: block ids are deterministic and the commit never overwrites a blob.
 */
@Injectable()
export class UploadService {
  private readonly logger = new Logger(UploadService.name);

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    @Inject(LOCAL_TIER) private readonly local: LocalTier,
    @Inject(JOB_QUEUES) private readonly queues: JobQueues,
    private readonly manifests: ManifestStore,
    private readonly pipeline: Pipeline,
    private readonly metrics: TidemarkMetrics,
  ) {}

  async stagePart(job: UploadPartJob): Promise<'staged' | 'obsolete'> {
    const manifest = await this.manifests.readLocal(job.targetId, job.backupId);
    // A newer dump run replaced this one's parts (or the backup is gone): nothing to upload.
    if (!manifest || manifest.artifact.dumpAttempt !== job.dumpAttempt || manifest.status === 'failed')
      return 'obsolete';
    const blobName = artifactBlobName(job.targetId, job.backupId, manifest.artifact.name);
    if (await this.store.properties(blobName)) return 'obsolete';
    const file = this.local.partPath(
      job.targetId,
      job.backupId,
      partFile(manifest, job.dumpAttempt, job.part),
    );
    await this.stageFile(blobName, job.dumpAttempt, job.part, file);
    return 'staged';
  }

  async commit(job: UploadCommitJob): Promise<CommitOutcome> {
    const started = Date.now();
    const remote = await this.manifests.find(job.backupId, job.targetId);
    if (remote && remote.manifest.status !== 'dumped') {
      // Committed before (a retry after a crash between commit and the next step): carry on from there, after
      // making sure its blobs carry the protection it records (that step may be what failed).
      await this.manifests.protect(remote.manifest);
      await this.pipeline.uploaded(remote.manifest, this.restoreTest(job.targetId), null);
      return { status: 'committed', manifest: remote.manifest };
    }
    const manifest = await this.manifests.readLocal(job.targetId, job.backupId);
    if (!manifest)
      throw new PermanentJobError(
        'local-missing',
        `no local copy of backup ${job.targetId}/${job.backupId} to upload`,
      );
    if (manifest.status !== 'dumped' || manifest.artifact.dumpAttempt !== job.dumpAttempt) {
      throw new PermanentJobError(
        'not-dumped',
        `backup ${job.targetId}/${job.backupId} is ${manifest.status}, not ready to upload`,
      );
    }
    const blobName = artifactBlobName(job.targetId, job.backupId, manifest.artifact.name);
    const tier = policyOf(this.config, targetById(this.config, job.targetId)).tiering.initial;

    let etag: string;
    const existing = await this.store.properties(blobName);
    if (existing) {
      if (
        existing.metadata['backup_id'] !== job.backupId ||
        existing.metadata['sha256'] !== manifest.artifact.sha256
      ) {
        throw new PermanentJobError(
          'blob-exists',
          `blob ${blobName} already exists and is not this backup; refusing to overwrite it`,
        );
      }
      etag = existing.etag;
    } else {
      const unstaged = await this.missingParts(blobName, manifest);
      if (unstaged.length > 0) {
        const pending = await this.pendingPartJobs(job.backupId, unstaged);
        if (pending.length > 0) return { status: 'waiting', parts: pending };
        // Listed again now that none of their part jobs is live: one may have staged its part between the first
        // listing and the state check, and staging it again would upload it twice.
        const missing = await this.missingParts(blobName, manifest);
        for (const part of missing) {
          await this.stageFile(
            blobName,
            job.dumpAttempt,
            part.index,
            this.local.partPath(job.targetId, job.backupId, part.file),
          );
        }
      }
      const blockIds = manifest.artifact.parts.flatMap((part) => partBlockIds(job.dumpAttempt, part));
      try {
        ({ etag } = await this.store.commitBlocks(blobName, blockIds, {
          metadata: blobMetadata(manifest),
          tags: { target: job.targetId, status: 'uploaded' },
          tier,
          contentType: 'application/octet-stream',
          ...(manifest.artifact.md5 ? { contentMd5: manifest.artifact.md5 } : {}),
        }));
      } catch (error) {
        if (!(error instanceof StorageError && error.code === 'exists')) throw error;
        // Another replica committed it between our check and our commit: the next attempt takes the path above.
        throw new StorageError('precondition', `blob ${blobName} was committed concurrently; retrying`);
      }
    }

    // The tier clock starts at the commit (retention's tier moves and Azure's early-deletion minimum count from it).
    const committedAt = existing?.lastModified ?? new Date();
    const uploaded = this.withImmutability(
      markUploaded(
        manifest,
        { container: this.store.container, blobName, etag, tier, tierSince: committedAt.toISOString() },
        new Date(),
      ),
    );
    // A copy another replica wrote meanwhile wins unless it is still before the upload.
    await this.manifests.transition(job.targetId, job.backupId, (current) =>
      current === null || current.status === 'dumped' ? uploaded : current,
    );
    await this.manifests.transitionLocal(job.targetId, job.backupId, () => uploaded);
    const durationMs = Date.now() - started;
    this.logger.log(
      { targetId: job.targetId, backupId: job.backupId, blobName, tier, durationMs },
      'blob committed',
    );
    await this.pipeline.uploaded(uploaded, this.restoreTest(job.targetId), durationMs);
    return { status: 'committed', manifest: uploaded };
  }

  /**
   * Records the lock the committed blobs get (storage.immutability or the policy's own); the manifest store puts
   * it on the artifact and the manifest as it writes the manifest.
   */
  private withImmutability(manifest: Manifest): Manifest {
    const policy = policyOf(this.config, targetById(this.config, manifest.target.id));
    const settings = immutabilityOf(this.config, policy);
    if (settings === undefined) return manifest;
    const takenAt = backupIdTime(manifest.backupId);
    const lock = commitProtection(takenAt, manifest.pinned, policy, settings, new Date());
    return { ...manifest, immutability: { mode: lock.mode, until: lock.until.toISOString() } };
  }

  private restoreTest(targetId: string): boolean {
    return policyOf(this.config, targetById(this.config, targetId)).verify.restoreTest;
  }

  /** Parts with any block not staged yet (a zero-byte part has no blocks and is never missing). */
  private async missingParts(blobName: string, manifest: Manifest): Promise<Part[]> {
    const staged = await this.store.uncommittedBlockIds(blobName);
    return manifest.artifact.parts.filter((part) =>
      partBlockIds(manifest.artifact.dumpAttempt, part).some((id) => !staged.has(id)),
    );
  }

  private async pendingPartJobs(backupId: string, parts: Part[]): Promise<number[]> {
    const pending: number[] = [];
    for (const part of parts) {
      const state = await this.queues.state(JOBS.uploadPart.queue, partJobId(backupId, part.index));
      if (LIVE_JOB_STATES.has(state)) pending.push(part.index);
    }
    return pending;
  }

  /** Reads a part file block by block and stages BLOCK_CONCURRENCY blocks at a time, each with its MD5. */
  private async stageFile(blobName: string, dumpAttempt: number, part: number, file: string): Promise<void> {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const ids = partBlockIds(dumpAttempt, { index: part, size });
      await forEachLimit(ids, BLOCK_CONCURRENCY, async (id, block) => {
        const length = Math.min(BLOCK_SIZE, size - block * BLOCK_SIZE);
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await handle.read(buffer, 0, length, block * BLOCK_SIZE);
        if (bytesRead !== length) throw new Error(`short read of ${file} at block ${block}`);
        await this.store.stageBlock(blobName, id, buffer);
        this.metrics.uploadBytes.inc(length);
      });
    } finally {
      await handle.close();
    }
  }
}

function partFile(manifest: Manifest, dumpAttempt: number, part: number): string {
  return (
    manifest.artifact.parts.find((p) => p.index === part)?.file ??
    partFileName(manifest.artifact.name, dumpAttempt, part)
  );
}

/** DESIGN §5 metadata on the artifact blob: enough to identify and check it without the manifest. */
function blobMetadata(manifest: Manifest): Record<string, string> {
  return {
    backup_type: manifest.chain && manifest.chain.position > 0 ? 'incremental' : 'full',
    ...(manifest.chain ? { chain_base: manifest.chain.base, chain_parent: manifest.chain.parent ?? '' } : {}),
    ...(manifest.run ? { run_id: manifest.run.id } : {}),
    target: manifest.target.id,
    backup_id: manifest.backupId,
    sha256: manifest.artifact.sha256 ?? '',
    created_at: manifest.timestamps.dumpStartedAt ?? manifest.timestamps.requestedAt,
    hostname: manifest.tool.hostname,
    tool_version: `tidemark ${TOOL_VERSION}; ${manifest.tool.dumpTool ?? 'unknown'}`,
    kind: manifest.target.kind,
    format: manifest.artifact.format,
    compression: manifest.artifact.compression,
    // Encrypted artifacts say so, with the recipient set's fingerprint; the public keys are in the manifest.
    ...(manifest.artifact.age
      ? { encryption: 'age', encryption_recipients: manifest.artifact.age.fingerprint }
      : {}),
  };
}
