import type { ContainerClient } from '@azure/storage-blob';
import type { FileEntry } from '@tidemark/manifest';

/** One blob as the listing saw it; `headers` and `metadata` travel in the tar entry's pax records. */
export interface ListedBlob {
  name: string;
  size: number;
  etag: string;
  contentMd5?: string;
  contentType?: string;
  lastModified: Date;
  accessTier?: string;
  headers: BlobHeaders;
  metadata: Record<string, string>;
}

/** The HTTP headers a blob keeps besides Content-Type (which the manifest records). */
export interface BlobHeaders {
  contentEncoding?: string;
  contentLanguage?: string;
  contentDisposition?: string;
  cacheControl?: string;
}

export interface ContainerListing {
  blobs: ListedBlob[];
  /** x-ms-version the service answered with. */
  serviceVersion: string | undefined;
}

const PAGE_SIZE = 5000;

/** Code-unit order: deterministic, and the order the manifest and the tar use. */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every current blob of the container (no snapshots, versions or deleted blobs), sorted by name. */
export async function listContainer(client: ContainerClient): Promise<ContainerListing> {
  const blobs: ListedBlob[] = [];
  let serviceVersion: string | undefined;
  for await (const page of client
    .listBlobsFlat({ includeMetadata: true })
    .byPage({ maxPageSize: PAGE_SIZE })) {
    serviceVersion ??= page.version;
    for (const item of page.segment.blobItems)
      blobs.push(listedBlob(item.name, item.properties, item.metadata));
  }
  blobs.sort((a, b) => byName(a.name, b.name));
  return { blobs, serviceVersion };
}

/** A blob as it is now (after it changed since the listing), in the listing's shape; undefined when it is gone. */
export async function currentBlob(client: ContainerClient, name: string): Promise<ListedBlob | undefined> {
  let p;
  try {
    p = await client.getBlobClient(name).getProperties();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
  return listedBlob(name, p, p.metadata);
}

/** The properties a list item and getProperties() both carry (the latter with everything optional). */
interface BlobProperties {
  contentLength?: number | undefined;
  etag?: string | undefined;
  contentMD5?: Uint8Array | undefined;
  contentType?: string | undefined;
  lastModified?: Date | undefined;
  accessTier?: string | undefined;
  contentEncoding?: string | undefined;
  contentLanguage?: string | undefined;
  contentDisposition?: string | undefined;
  cacheControl?: string | undefined;
}

/** A blob in the listing's shape, from a list item's properties or from getProperties(). */
function listedBlob(
  name: string,
  p: BlobProperties,
  metadata: Record<string, string> | undefined,
): ListedBlob {
  return {
    name,
    size: p.contentLength ?? 0,
    etag: p.etag ?? '',
    ...(p.contentMD5 &&
      p.contentMD5.length > 0 && { contentMd5: Buffer.from(p.contentMD5).toString('base64') }),
    ...(p.contentType !== undefined && p.contentType !== '' && { contentType: p.contentType }),
    lastModified: p.lastModified ?? new Date(),
    ...(p.accessTier !== undefined && { accessTier: p.accessTier }),
    headers: {
      ...(p.contentEncoding && { contentEncoding: p.contentEncoding }),
      ...(p.contentLanguage && { contentLanguage: p.contentLanguage }),
      ...(p.contentDisposition && { contentDisposition: p.contentDisposition }),
      ...(p.cacheControl && { cacheControl: p.cacheControl }),
    },
    metadata: metadata ?? {},
  };
}

/** The manifest entry of a blob whose bytes are in backup `backupId`, with the hash taken while streaming. */
export function toFileEntry(blob: ListedBlob, backupId: string, sha256: string): FileEntry {
  return {
    path: blob.name,
    type: 'file',
    size: blob.size,
    mtimeMs: blob.lastModified.getTime(),
    sha256,
    etag: blob.etag,
    ...(blob.contentMd5 !== undefined && { contentMd5: blob.contentMd5 }),
    ...(blob.contentType !== undefined && { contentType: blob.contentType }),
    in: backupId,
  };
}

/**
 * The previous backup's entry for a blob that has not changed since: same name and ETag (Azure changes the
 * ETag on every write, header or metadata change), with a hash to check it by at restore.
 */
export function unchangedEntry(
  blob: ListedBlob,
  previous: ReadonlyMap<string, FileEntry>,
): FileEntry | undefined {
  const entry = previous.get(blob.name);
  if (entry?.etag !== blob.etag || entry.sha256 === undefined || entry.size !== blob.size) return undefined;
  return toFileEntry(blob, entry.in, entry.sha256);
}
