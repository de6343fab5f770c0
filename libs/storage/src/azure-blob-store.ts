import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { TokenCredential } from '@azure/identity';
import {
  BlobServiceClient,
  type BlobRequestConditions,
  type ContainerClient,
  type StoragePipelineOptions,
  type StorageRetryOptions,
} from '@azure/storage-blob';
import type { AccessTier } from '@tidemark/manifest';
import type {
  BlobDownload,
  BlobListItem,
  BlobProperties,
  BlobStore,
  CommitOptions,
  ImmutabilityMode,
  ImmutabilityPolicy,
  RehydratePriority,
  WriteCondition,
} from './blob-store';
import { redact } from '@tidemark/redaction';
import { stageBlock, StorageError, toStorageError } from '@tidemark/azure-blob-sdk';

/**
 * Short SDK retries: the job queue already retries whole jobs with backoff, so a dead endpoint must fail
 * a job within seconds rather than keep a worker waiting for minutes.
 */
export const STORAGE_RETRY_OPTIONS: StorageRetryOptions = {
  maxTries: 3,
  retryDelayInMs: 500,
  maxRetryDelayInMs: 4_000,
  tryTimeoutInMs: 120_000,
};

const PIPELINE_OPTIONS: StoragePipelineOptions = { retryOptions: STORAGE_RETRY_OPTIONS };
const PING_TIMEOUT_MS = 10_000;
/** Azure's limit of sub-requests in one Blob Batch request. */
const BATCH_DELETES = 256;
/** Times a broken download stream is resumed (from where it broke, pinned to the same etag). */
const DOWNLOAD_RESUMES = 5;

export class AzureBlobStore implements BlobStore {
  readonly endpoint: string;
  private readonly client: ContainerClient;

  /** Prefer the factories, which set the short retry policy; this is for clients with a custom pipeline. */
  constructor(
    service: BlobServiceClient,
    readonly container: string,
  ) {
    this.endpoint = publicUrl(service.url);
    this.client = service.getContainerClient(container);
  }

  static fromConnectionString(connectionString: string, container: string): AzureBlobStore {
    let service: BlobServiceClient;
    try {
      service = BlobServiceClient.fromConnectionString(connectionString, PIPELINE_OPTIONS);
    } catch {
      // The SDK's parse errors can quote the string, key included.
      throw new StorageError('not-configured', 'the Blob Storage connection string is not valid');
    }
    return new AzureBlobStore(service, container);
  }

  static fromAccountUrl(accountUrl: string, credential: TokenCredential, container: string): AzureBlobStore {
    if (!URL.canParse(accountUrl)) {
      throw new StorageError(
        'not-configured',
        `Blob Storage account URL "${redact(accountUrl)}" is not a URL`,
      );
    }
    return new AzureBlobStore(new BlobServiceClient(accountUrl, credential, PIPELINE_OPTIONS), container);
  }

  async ensureContainer(): Promise<void> {
    const action = `create container ${this.container}`;
    try {
      // Check first: an identity scoped to an existing container may not be allowed to create one.
      if (await this.client.exists()) return;
      await this.client.create();
    } catch (err) {
      const error = toStorageError(err, { endpoint: this.endpoint, action });
      if (error.code === 'exists') return; // another replica created it meanwhile
      throw error;
    }
  }

  async versionImmutability(): Promise<boolean | null> {
    try {
      const properties = await this.client.getProperties({
        abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS),
      });
      return properties.isImmutableStorageWithVersioningEnabled ?? null;
    } catch (err) {
      throw toStorageError(err, { endpoint: this.endpoint, action: `read container ${this.container}` });
    }
  }

  async ping(): Promise<void> {
    try {
      await this.client.getProperties({ abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS) });
    } catch (err) {
      const error = toStorageError(err, {
        endpoint: this.endpoint,
        action: `check container ${this.container}`,
      });
      // A missing container still proves the service is reachable and accepts our credentials.
      if (error.code === 'not-found') return;
      throw error;
    }
  }

  async stageBlock(blobName: string, blockId: string, data: Buffer): Promise<void> {
    await this.call(`stage block of ${blobName}`, () => stageBlock(this.blob(blobName), blockId, data));
  }

  async uncommittedBlockIds(blobName: string): Promise<Set<string>> {
    try {
      const list = await this.blob(blobName).getBlockList('uncommitted');
      return new Set((list.uncommittedBlocks ?? []).map((block) => block.name));
    } catch (err) {
      const error = this.error(err, `list staged blocks of ${blobName}`);
      if (error.code === 'not-found') return new Set();
      throw error;
    }
  }

  async commitBlocks(
    blobName: string,
    blockIds: string[],
    options: CommitOptions,
  ): Promise<{ etag: string }> {
    const response = await this.call(
      `commit ${blobName}`,
      () =>
        this.blob(blobName).commitBlockList(blockIds, {
          metadata: options.metadata,
          tags: options.tags,
          tier: options.tier,
          blobHTTPHeaders: {
            blobContentType: options.contentType ?? 'application/octet-stream',
            ...(options.contentMd5 ? { blobContentMD5: Buffer.from(options.contentMd5, 'base64') } : {}),
          },
          conditions: { ifNoneMatch: '*' },
        }),
      true,
    );
    return { etag: requireEtag(response.etag, blobName) };
  }

  async properties(blobName: string): Promise<BlobProperties | null> {
    try {
      const p = await this.blob(blobName).getProperties();
      return {
        etag: requireEtag(p.etag, blobName),
        size: p.contentLength ?? 0,
        metadata: p.metadata ?? {},
        tier: p.accessTier,
        lastModified: p.lastModified ?? new Date(0),
        ...(p.archiveStatus !== undefined && { archiveStatus: p.archiveStatus }),
        ...immutabilityFromProperties(p),
      };
    } catch (err) {
      const error = this.error(err, `read properties of ${blobName}`);
      if (error.code === 'not-found') return null;
      throw error;
    }
  }

  async tags(blobName: string): Promise<Record<string, string>> {
    const response = await this.call(`read tags of ${blobName}`, () => this.blob(blobName).getTags());
    return response.tags;
  }

  async setTags(blobName: string, tags: Record<string, string>): Promise<void> {
    await this.call(`set tags of ${blobName}`, () => this.blob(blobName).setTags(tags));
  }

  async setTier(
    blobName: string,
    tier: AccessTier,
    options: { rehydratePriority?: RehydratePriority } = {},
  ): Promise<void> {
    await this.call(`set tier ${tier} on ${blobName}`, () =>
      this.blob(blobName).setAccessTier(tier, {
        ...(options.rehydratePriority !== undefined && { rehydratePriority: options.rehydratePriority }),
      }),
    );
  }

  async download(blobName: string): Promise<BlobDownload> {
    const action = `download ${blobName}`;
    const response = await this.call(action, () =>
      this.blob(blobName).download(0, undefined, { maxRetryRequests: DOWNLOAD_RESUMES }),
    );
    const body = response.readableStreamBody as Readable | undefined;
    if (!body)
      throw new StorageError('unknown', `${action} in ${this.container} failed: the response has no body`);
    // Re-emit the SDK stream so consumers only ever see StorageError, and so destroying ours frees the socket.
    const stream = new PassThrough();
    body.on('error', (err) => stream.destroy(this.error(err, action)));
    stream.on('close', () => {
      if (!body.readableEnded) body.destroy();
    });
    body.pipe(stream);
    return { stream, size: response.contentLength ?? 0, etag: requireEtag(response.etag, blobName) };
  }

  async readJson(blobName: string): Promise<{ value: unknown; etag: string } | null> {
    const action = `read ${blobName}`;
    let text: string;
    let etag: string;
    try {
      const response = await this.blob(blobName).download(0, undefined, {
        maxRetryRequests: DOWNLOAD_RESUMES,
      });
      etag = requireEtag(response.etag, blobName);
      const chunks: Buffer[] = [];
      for await (const chunk of response.readableStreamBody ?? []) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      const error = this.error(err, action);
      if (error.code === 'not-found') return null;
      throw error;
    }
    try {
      return { value: JSON.parse(text) as unknown, etag };
    } catch {
      throw new StorageError('integrity', `${blobName} in ${this.container} is not valid JSON`);
    }
  }

  async writeJson(
    blobName: string,
    value: unknown,
    condition: WriteCondition,
    options: { tags?: Record<string, string> } = {},
  ): Promise<{ etag: string }> {
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
    const conditions: BlobRequestConditions =
      condition === 'overwrite'
        ? {}
        : 'ifMatch' in condition
          ? { ifMatch: condition.ifMatch }
          : { ifNoneMatch: '*' };
    const response = await this.call(
      `write ${blobName}`,
      () =>
        this.blob(blobName).upload(body, body.length, {
          conditions,
          transactionalContentMD5: createHash('md5').update(body).digest(),
          blobHTTPHeaders: { blobContentType: 'application/json; charset=utf-8' },
          ...(options.tags && { tags: options.tags }),
        }),
      condition !== 'overwrite' && 'ifNoneMatch' in condition,
    );
    return { etag: requireEtag(response.etag, blobName) };
  }

  async *list(prefix: string): AsyncIterable<BlobListItem> {
    try {
      for await (const item of this.client.listBlobsFlat({ prefix })) {
        yield {
          name: item.name,
          size: item.properties.contentLength ?? 0,
          lastModified: item.properties.lastModified,
          ...(item.properties.accessTier !== undefined && { tier: item.properties.accessTier }),
        };
      }
    } catch (err) {
      throw this.error(err, `list ${prefix === '' ? 'blobs' : `${prefix}*`}`);
    }
  }

  async *findByTag(key: string, value: string): AsyncIterable<string> {
    const where = tagQuery(key, value);
    try {
      for await (const item of this.client.findBlobsByTags(where)) yield item.name;
    } catch (err) {
      throw this.error(err, `find blobs tagged ${where}`);
    }
  }

  async delete(blobName: string, options: { ifMatch?: string } = {}): Promise<void> {
    try {
      await this.blob(blobName).delete({
        deleteSnapshots: 'include',
        ...(options.ifMatch !== undefined && { conditions: { ifMatch: options.ifMatch } }),
      });
    } catch (err) {
      const error = this.error(err, `delete ${blobName}`);
      if (error.code === 'not-found') return;
      throw error;
    }
  }

  async deleteMany(blobNames: readonly string[]): Promise<Map<string, StorageError>> {
    const failures = new Map<string, StorageError>();
    for (let start = 0; start < blobNames.length; start += BATCH_DELETES) {
      const names = blobNames.slice(start, start + BATCH_DELETES);
      const action = `delete ${String(names.length)} blobs (${names[0] ?? ''} …) in one batch`;
      try {
        const response = await this.client.getBlobBatchClient().deleteBlobs(
          names.map((name) => this.blob(name)),
          { deleteSnapshots: 'include' },
        );
        // The sub-responses come back in the order of the sub-requests (the SDK places them by Content-ID).
        response.subResponses.forEach((sub, index) => {
          const name = names[index];
          if (name === undefined || sub.status < 300 || sub.status === 404) return;
          failures.set(
            name,
            this.error(
              { statusCode: sub.status, code: sub.errorCode, message: sub.statusMessage },
              `delete ${name}`,
            ),
          );
        });
      } catch (err) {
        const error = this.error(err, action);
        for (const name of names) failures.set(name, error);
      }
    }
    return failures;
  }

  async setImmutability(blobName: string, policy: ImmutabilityPolicy): Promise<void> {
    await this.call(`lock ${blobName} until ${policy.until.toISOString()} (${policy.mode})`, () =>
      this.blob(blobName).setImmutabilityPolicy({
        expiriesOn: policy.until,
        policyMode: policy.mode === 'locked' ? 'Locked' : 'Unlocked',
      }),
    );
  }

  async clearImmutability(blobName: string): Promise<void> {
    await this.call(`remove the immutability policy of ${blobName}`, () =>
      this.blob(blobName).deleteImmutabilityPolicy(),
    );
  }

  async setLegalHold(blobName: string, hold: boolean): Promise<void> {
    await this.call(`${hold ? 'set' : 'clear'} the legal hold of ${blobName}`, () =>
      this.blob(blobName).setLegalHold(hold),
    );
  }

  private blob(blobName: string) {
    return this.client.getBlockBlobClient(blobName);
  }

  private async call<T>(action: string, fn: () => Promise<T>, ifNoneMatch = false): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.error(err, action, ifNoneMatch);
    }
  }

  private error(err: unknown, action: string, ifNoneMatch = false): StorageError {
    return toStorageError(err, {
      endpoint: this.endpoint,
      action: `${action} in ${this.container}`,
      ifNoneMatch,
    });
  }
}

/**
 * The version-level WORM state in a Get Blob Properties answer. The service sends the mode as `unlocked` or
 * `locked` (the SDK's type says `Unlocked`/`Locked`/`Mutable` but passes the header through), so case is ignored;
 * anything else (`Mutable`) means no policy.
 */
export function immutabilityFromProperties(p: {
  immutabilityPolicyExpiresOn?: Date;
  immutabilityPolicyMode?: string;
  legalHold?: boolean;
}): Pick<BlobProperties, 'immutability' | 'legalHold'> {
  const mode = p.immutabilityPolicyMode?.toLowerCase();
  const until = p.immutabilityPolicyExpiresOn;
  const known = (value: string | undefined): value is ImmutabilityMode =>
    value === 'locked' || value === 'unlocked';
  const policy = until !== undefined && known(mode) ? { immutability: { until, mode } } : {};
  return { ...policy, ...(p.legalHold === true && { legalHold: true }) };
}

/** The account URL without a SAS query or trailing slash: safe to print. */
function publicUrl(url: string): string {
  if (!URL.canParse(url)) return redact(url);
  const u = new URL(url);
  u.search = '';
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/$/, '');
}

function requireEtag(etag: string | undefined, blobName: string): string {
  if (etag === undefined) throw new StorageError('unknown', `the service returned no etag for ${blobName}`);
  return etag;
}

/** Azure's tag characters (letters, digits, space and `+ - . / : = _`): nothing in them can break out of the quotes. */
const TAG_TEXT = /^[A-Za-z0-9 +\-./:=_]{1,256}$/;

function tagQuery(key: string, value: string): string {
  // Callers pass ids they have validated; anything else is a bug, not a storage failure.
  if (!TAG_TEXT.test(key) || !TAG_TEXT.test(value))
    throw new Error(
      `blob index tag ${JSON.stringify(key)}=${JSON.stringify(value)} has characters Azure does not allow`,
    );
  return `"${key}" = '${value}'`;
}
