import type { Readable } from 'node:stream';
import type { ArtifactFormat, BackupContent } from '@tidemark/manifest';
import {
  restoreTestResult,
  type ChainMember,
  type ChainSource,
  type DumpContext,
  type DumpHandle,
  readTar,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  type Source,
  SourceError,
  type SourceErrorCode,
  type SourceInfo,
  type SourceOptions,
  type SourceTarget,
  type StructureCheckResult,
  TarFormatError,
} from '@tidemark/source-contract';
import { parseContainerTarget, type ContainerTarget } from './container-url';
import { serviceFailure } from '@tidemark/azure-blob-sdk';
import { toSourceError } from './errors';
import { startDump } from './dump';
import { listContainer } from './listing';
import { restorePoint, testPoint } from './restore';

const DUMP_TOOL = 'tidemark blob-tar';

export interface AzureBlobSourceOptions {
  /** Tests: runs before each blob is downloaded, to change the container between listing and reading. */
  onBeforeDownload?: (name: string) => Promise<void>;
}

/**
 * An Azure Blob container, backed up incrementally: each backup is a tar of the blobs that are new or changed
 * (by ETag) since the previous one, and its manifest lists the whole container with where each blob's bytes are.
 */
export class AzureBlobSource implements ChainSource {
  readonly kind = 'azure-blob';
  readonly incremental = true;
  readonly format: ArtifactFormat = 'tar';
  private readonly target: ContainerTarget;

  constructor(
    url: string,
    private readonly options: AzureBlobSourceOptions = {},
  ) {
    this.target = parseContainerTarget(url);
  }

  /** The account URL and container, without any credential. */
  get host(): string {
    return this.target.host;
  }

  get container(): string {
    return this.target.container;
  }

  async preCheck(): Promise<SourceInfo> {
    const listing = await this.call('source-unreachable', `list blobs of container "${this.container}"`, () =>
      listContainer(this.target.client),
    );
    const version = listing.serviceVersion;
    return {
      kind: this.kind,
      database: this.container,
      host: this.host,
      serverVersion: version ?? 'azure-blob',
      // The service has no major version; the year of its API version is the closest thing.
      serverMajor: version ? Number.parseInt(version.slice(0, 4), 10) || 0 : 0,
      dumpTool: DUMP_TOOL,
      estimatedBytes: listing.blobs.reduce((sum, blob) => sum + blob.size, 0),
    };
  }

  async dump(context: DumpContext): Promise<DumpHandle> {
    const listing = await this.call('dump-failed', `list blobs of container "${this.container}"`, () =>
      listContainer(this.target.client),
    );
    return startDump({
      client: this.target.client,
      context,
      blobs: listing.blobs,
      call: { host: this.host, container: this.container, secrets: this.target.secrets },
      onBeforeDownload: this.options.onBeforeDownload,
    });
  }

  /** Parses the tar to its end; an incremental with no changes is a valid empty tar. */
  async checkStructure(input: Readable): Promise<StructureCheckResult> {
    try {
      const entries = await readTar(input, () => Promise.resolve(), { onError: 'drain' });
      return { ok: true, tool: DUMP_TOOL, entries };
    } catch (err) {
      if (!(err instanceof TarFormatError)) throw err;
      return { ok: false, tool: DUMP_TOOL, entries: 0, detail: err.message };
    }
  }

  /**
   * The blob restore test: writes nothing anywhere (no scratch container), but reads every entry the point needs
   * from the members and checks it is there ('blobs') with the listing's size and sha256 ('sha256').
   */
  async restoreTest(
    members: AsyncIterable<ChainMember>,
    point: BackupContent,
    scratch: Scratch,
  ): Promise<RestoreTestResult> {
    const started = performance.now();
    const checks = await testPoint(members, point);
    return restoreTestResult(scratch.name, checks, started);
  }

  async restore(
    members: AsyncIterable<ChainMember>,
    point: BackupContent,
    options: RestoreOptions,
  ): Promise<void> {
    const action = `restore into container "${this.container}"`;
    await this.call('restore-failed', action, () => this.prepareDestination(options.clean));
    await this.call('restore-failed', action, () =>
      restorePoint(this.target.client, members, point, options.clean),
    );
  }

  /** Creates the container when missing; refuses one with blobs unless `clean`. */
  private async prepareDestination(clean: boolean): Promise<void> {
    const client = this.target.client;
    try {
      const page = await client.listBlobsFlat().byPage({ maxPageSize: 1 }).next();
      if (page.done !== true && page.value.segment.blobItems.length > 0 && !clean) {
        throw new SourceError(
          'target-not-empty',
          `container "${this.container}" at ${this.host} already has blobs; pass --clean to replace them`,
        );
      }
    } catch (err) {
      if (serviceFailure(err).serviceCode !== 'ContainerNotFound') throw err;
      await client.createIfNotExists();
    }
  }

  /** Runs service work, turning failures into one-line SourceErrors without a key or SAS. */
  private async call<T>(code: SourceErrorCode, action: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw toSourceError(err, {
        host: this.host,
        container: this.container,
        action,
        code,
        secrets: this.target.secrets,
      });
    }
  }
}

export function createAzureBlobSource(target: SourceTarget, _options: SourceOptions): Source {
  return new AzureBlobSource(target.url);
}
