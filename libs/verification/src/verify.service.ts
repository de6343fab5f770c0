import { Inject, Injectable } from '@nestjs/common';
import { hashWhileFeeding } from '@tidemark/artifact';
import { Catalog, chainOf, ManifestStore, readChain } from '@tidemark/catalog';
import { resolveTarget, TIDEMARK_CONFIG, type LoadedConfig } from '@tidemark/config';
import { EncryptionError, linkSteps, targetIdentities, unpackSteps } from '@tidemark/encryption';
import { errorData } from '@tidemark/events';
import { markUnreadable, markVerification, type Manifest, type Verification } from '@tidemark/manifest';
import { Pipeline } from '@tidemark/pipeline';
import { targetById } from '@tidemark/policy';
import { PermanentJobError, type VerifyJob } from '@tidemark/queues';
import {
  createSource,
  runMemberTarget,
  SourceError,
  type Scratch,
  type Source,
  unpacksItself,
} from '@tidemark/source-kinds';
import { BLOB_STORE, type BlobStore } from '@tidemark/storage';
import { mkdir } from 'node:fs/promises';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { archiveCoversStart, archiveWalSupply } from './archive-wal-supply';
import { ScratchCleaner } from './scratch-cleaner';
import { scratchName, ScratchLeases } from './scratch-leases';
import { scratchPlace } from './scratch-target';

/**
 * Proves a stored backup restorable: re-reads the blob and checks its sha256 against the manifest, decompresses it
 * through the source's structural check, then (if the policy asks) restores it into a scratch database and compares
 * tables and row counts with what the dump recorded. The outcome goes into the manifest and the blob's tags.
 */
@Injectable()
export class VerifyService {
  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly catalog: Catalog,
    private readonly manifests: ManifestStore,
    private readonly pipeline: Pipeline,
    private readonly leases: ScratchLeases,
    private readonly scratch: ScratchCleaner,
  ) {}

  async run(job: VerifyJob, env: NodeJS.ProcessEnv = process.env): Promise<Manifest> {
    const started = Date.now();
    const stored = await this.manifests.find(job.backupId, job.targetId);
    if (!stored)
      throw new PermanentJobError(
        'manifest-missing',
        `no manifest for backup ${job.targetId}/${job.backupId}`,
      );
    const manifest = stored.manifest;
    const remote = manifest.locations.remote;
    if (!remote || manifest.artifact.sha256 === null || manifest.status === 'failed') {
      throw new PermanentJobError(
        'not-uploaded',
        `backup ${job.targetId}/${job.backupId} is ${manifest.status}; nothing to verify`,
      );
    }
    const source = this.source(manifest, env);
    const keys = await this.identities(manifest, env);
    if (keys.problem) return this.unverifiable(manifest, remote.blobName, keys.problem, started);

    // Pass 1: every byte of the blob is hashed; the decrypted, decompressed stream feeds the structural check.
    const download = await this.store.download(remote.blobName);
    const { head, tail } = linkSteps(unpackSteps(manifest.artifact, keys.identities));
    const structureInput = new PassThrough();
    tail.on('error', () => structureInput.end());
    tail.pipe(structureInput);
    // A tool that cannot run says nothing about the backup: that fails the job (retried), it is not corruption.
    // Nothing reads the decompressed stream then, so feeding stops (the download is still hashed to its end)
    // rather than waiting forever on backpressure.
    const toolFailure: { error: SourceError | null } = { error: null };
    const structureCheck = source.checkStructure(structureInput).catch((error: unknown) => {
      if (error instanceof SourceError && error.code === 'tool-missing') {
        toolFailure.error = error;
        head.destroy();
      }
      return { ok: false, tool: 'structure check', entries: 0, detail: errorData(error).message };
    });
    const read = await hashWhileFeeding(download.stream as AsyncIterable<Buffer>, head, tail);
    const structureResult = await structureCheck;
    if (toolFailure.error) throw toolFailure.error;
    const checksum = {
      ok: read.sha256 === manifest.artifact.sha256,
      expected: manifest.artifact.sha256,
      actual: read.sha256,
      bytes: read.bytes,
    };
    if (checksum.ok && isKeyProblem(read.sinkError)) {
      return this.reportUnverifiable(
        manifest,
        read.sinkError,
        { ok: true, bytes: read.bytes, actual: read.sha256 },
        started,
      );
    }
    const structure = read.sinkError
      ? {
          ...structureResult,
          ok: false,
          detail: `${read.sinkError instanceof EncryptionError ? 'decryption' : 'decompression'} failed: ${errorData(read.sinkError).message}`,
        }
      : structureResult;

    // Pass 2: a real restore, only worth doing when the bytes are the ones that were written.
    let restoreTest: Verification['restoreTest'] = null;
    if (job.restoreTest && checksum.ok && structure.ok) {
      restoreTest = await this.restoreTest(source, manifest, remote.blobName, keys.identities);
    }

    const verification: Verification = { at: new Date().toISOString(), checksum, structure, restoreTest };
    return this.record(manifest, verification, started);
  }

  /** The outcome goes into the manifest (verified or corrupt) and the blob's tags, then its event. */
  private async record(manifest: Manifest, verification: Verification, started: number): Promise<Manifest> {
    const { id: targetId } = manifest.target;
    const updated = await this.manifests.update(targetId, manifest.backupId, (current) =>
      markVerification(current, verification),
    );
    const blobName = manifest.locations.remote?.blobName;
    if (blobName) await this.store.setTags(blobName, { target: targetId, status: updated.status });
    await this.pipeline.verified(updated, {
      verification,
      durationMs: Date.now() - started,
      bytes: verification.checksum.bytes,
      failedChecks: failedChecks(verification),
    });
    return updated;
  }

  /**
   * A real restore into a scratch copy. An incremental is rebuilt from its chain, so the test proves the point
   * restorable, not just the changes it holds.
   */
  private async restoreTest(
    source: Source,
    manifest: Manifest,
    blobName: string,
    identities: readonly string[],
  ): Promise<NonNullable<Verification['restoreTest']>> {
    // With a scratch configured the copy is made there, never on the target's own server.
    const place = scratchPlace(this.config, manifest.target.id, process.env, manifest);
    const tested = place.server ?? source;
    const dir = place.dir ?? this.scratch.dir;
    // Traverse-only for others: a kind whose scratch copy is run by another user (PostgreSQL as postgres when the
    // verifier is root) must be able to enter it; nothing in it can be listed.
    await mkdir(dir, { recursive: true, mode: 0o711 });
    const scratch: Scratch = {
      name: scratchName(manifest.backupId),
      dir,
      ...(await this.walOf(manifest, identities)),
    };
    await this.scratch.beforeRestoreTest(manifest.target.id, tested);
    await this.scratch.record(scratch.name, manifest.target.id);
    return this.leases.hold(scratch.name, async () => {
      if (tested.incremental) {
        const members = await chainOf(this.catalog, manifest);
        return tested.restoreTest(readChain(this.store, members, { identities }), manifest.content, scratch);
      }
      const again = await this.store.download(blobName);
      const restoreInput = new PassThrough();
      const { compression } = manifest.artifact;
      // A kind that unpacks the compression in its own tool gets the bytes as stored (pass 1 checked them).
      const packed = unpacksItself(tested, compression);
      const feeding = pipeline(
        again.stream,
        ...unpackSteps(manifest.artifact, identities, { packed }),
        restoreInput,
      );
      const [result] = await Promise.all([
        tested.restoreTest(restoreInput, manifest.content, scratch, packed ? { compression } : {}),
        feeding,
      ]);
      return result;
    });
  }

  /**
   * A base backup whose target's WAL archive was streaming when it began is recovered to its end in the test; a
   * 'wal-missing' of its last segment fails the job, which is retried (the segment follows within seconds).
   */
  private async walOf(manifest: Manifest, identities: readonly string[]): Promise<Pick<Scratch, 'wal'>> {
    const backup = manifest.content.physical;
    if (!backup || !(await archiveCoversStart(this.store, manifest.target.id, backup))) return {};
    // An encrypted base backup's identities open its target's WAL too (one policy encrypts both).
    return { wal: archiveWalSupply(this.store, manifest.target.id, identities) };
  }

  /**
   * The identities to decrypt an encrypted backup with (none for a plain one). A missing or unusable identity is
   * the backup's `problem`, reported as unverifiable; Key Vault out of reach fails the job, which is retried.
   */
  private async identities(
    manifest: Manifest,
    env: NodeJS.ProcessEnv,
  ): Promise<{ identities: string[]; problem: EncryptionError | null }> {
    if (manifest.artifact.encryption !== 'age') return { identities: [], problem: null };
    try {
      const target = targetById(this.config, manifest.target.id);
      return { identities: await targetIdentities(this.config, target, { env }), problem: null };
    } catch (error) {
      if (error instanceof EncryptionError && error.code !== 'key-unavailable')
        return { identities: [], problem: error };
      throw error;
    }
  }

  /** Without a usable identity the blob's sha256 is still checked: a damaged blob is corrupt all the same. */
  private async unverifiable(
    manifest: Manifest,
    blobName: string,
    problem: EncryptionError,
    started: number,
  ): Promise<Manifest> {
    const download = await this.store.download(blobName);
    const discard = new Writable({
      write(_chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
        done();
      },
    });
    const read = await hashWhileFeeding(download.stream as AsyncIterable<Buffer>, discard);
    const ok = read.sha256 === manifest.artifact.sha256;
    if (ok)
      return this.reportUnverifiable(
        manifest,
        problem,
        { ok, bytes: read.bytes, actual: read.sha256 },
        started,
      );
    const checksum = { ok, expected: manifest.artifact.sha256 ?? '', actual: read.sha256, bytes: read.bytes };
    return this.record(
      manifest,
      { at: new Date().toISOString(), checksum, structure: null, restoreTest: null },
      started,
    );
  }

  private async reportUnverifiable(
    manifest: Manifest,
    problem: EncryptionError,
    checksum: { ok: boolean; bytes: number; actual: string },
    started: number,
  ): Promise<Manifest> {
    const verification: Verification = {
      at: new Date().toISOString(),
      checksum: {
        ok: checksum.ok,
        expected: manifest.artifact.sha256 ?? '',
        actual: checksum.actual,
        bytes: checksum.bytes,
      },
      structure: null,
      restoreTest: null,
      unreadable: { code: problem.code, message: problem.message },
    };
    const updated = await this.manifests.update(manifest.target.id, manifest.backupId, (current) =>
      markUnreadable(current, verification),
    );
    await this.pipeline.unverifiable(updated, {
      code: problem.code,
      message: problem.message,
      checksumOk: checksum.ok,
      bytes: checksum.bytes,
      durationMs: Date.now() - started,
    });
    return updated;
  }

  /** The restore test runs on the target's own server; the structural check needs only the tools. */
  private source(manifest: Manifest, env: NodeJS.ProcessEnv): Source {
    try {
      const target = runMemberTarget(resolveTarget(this.config, manifest.target.id, env), manifest);
      return createSource(target, { env });
    } catch (error) {
      throw new PermanentJobError('config', errorData(error).message);
    }
  }
}

/** The identities were missing or matched no recipient: nothing is known about the content, good or bad. */
function isKeyProblem(error: Error | null): error is EncryptionError {
  return error instanceof EncryptionError && (error.code === 'key-missing' || error.code === 'key-mismatch');
}

/** One line per check that failed, for the corrupt event and the log. */
function failedChecks({ checksum, structure, restoreTest }: Verification): string[] {
  return [
    ...(checksum.ok ? [] : [`checksum: expected ${checksum.expected}, got ${checksum.actual}`]),
    ...(structure && !structure.ok ? [`structure: ${structure.detail ?? 'failed'}`] : []),
    ...(restoreTest?.checks
      .filter((c) => !c.ok)
      .map(
        (c) =>
          `${c.name}: expected ${String(c.expected)}, got ${String(c.actual)}${c.detail ? ` (${c.detail})` : ''}`,
      ) ?? []),
  ];
}
