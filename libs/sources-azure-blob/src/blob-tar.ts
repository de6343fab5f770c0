import type { TarHeader } from '@tidemark/source-contract';
import type { BlobHeaders, ListedBlob } from './listing';

/**
 * A blob's headers and metadata, restored with it, travel as pax records of its tar entry. They are named as
 * user extended attributes (the SCHILY.xattr namespace GNU tar and bsdtar know), so stock tar extracts the
 * files without warnings about unknown keywords, and `tar --xattrs` even keeps them.
 */
const PAX_PREFIX = 'SCHILY.xattr.user.azure.';
const META_PREFIX = `${PAX_PREFIX}meta.`;
const HEADER_KEYS = ['contentEncoding', 'contentLanguage', 'contentDisposition', 'cacheControl'] as const;

/** The tar header of a blob: named by the blob (the writer keeps any name exactly), its attributes as pax records. */
export function entryHeader(blob: ListedBlob): TarHeader {
  const pax: Record<string, string> = {};
  for (const key of HEADER_KEYS) {
    const value = blob.headers[key];
    if (value !== undefined) pax[`${PAX_PREFIX}${key}`] = value;
  }
  for (const [key, value] of Object.entries(blob.metadata)) pax[`${META_PREFIX}${key}`] = value;
  const header: TarHeader = {
    name: blob.name,
    type: 'file',
    size: blob.size,
    mode: 0o644,
    mtime: blob.lastModified,
  };
  if (Object.keys(pax).length > 0) header.pax = pax;
  return header;
}

/** The headers and metadata a restored blob gets back from its entry's pax records. */
export function attributesFromPax(pax: Record<string, string>): {
  headers: BlobHeaders;
  metadata: Record<string, string>;
} {
  const headers: BlobHeaders = {};
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(META_PREFIX)) {
      metadata[key.slice(META_PREFIX.length)] = value;
      continue;
    }
    const name = key.slice(PAX_PREFIX.length);
    for (const known of HEADER_KEYS) if (key.startsWith(PAX_PREFIX) && name === known) headers[known] = value;
  }
  return { headers, metadata };
}
