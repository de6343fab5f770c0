import { createHash } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import type { BackupContent, Check, FileEntry } from '@tidemark/manifest';
import {
  type ChainMember,
  readTar,
  SourceError,
  type TarEntry,
  TarFormatError,
} from '@tidemark/source-contract';
import { attributesFromPax } from './blob-tar';
import type { BlobHeaders } from './listing';
import { BlockStager, blockSizeFor } from './staging';
import { forEachLimit } from '@tidemark/concurrency';

/** Concurrent commits and deletes at the end of a restore. */
const FINISH_CONCURRENCY = 16;

/** A blob whose blocks are staged and checked, waiting to be committed. */
interface StagedBlob {
  entry: FileEntry;
  blocks: number;
  headers: BlobHeaders;
  metadata: Record<string, string>;
}

/** The file entries of a point by name: what must exist after a restore, and where its bytes are. */
export function pointEntries(point: BackupContent): Map<string, FileEntry> {
  return new Map((point.files ?? []).filter((file) => file.type === 'file').map((file) => [file.path, file]));
}

/** The entry of `member` that the point takes from it, or undefined when the point does not need this one. */
function wantedFrom(
  wanted: ReadonlyMap<string, FileEntry>,
  member: ChainMember,
  tarEntry: TarEntry,
  done: { has(name: string): boolean },
): FileEntry | undefined {
  const entry = wanted.get(tarEntry.name);
  if (entry?.in !== member.backupId || done.has(entry.path) || tarEntry.type !== 'file') return undefined;
  return entry;
}

/**
 * Rebuilds `point` in `client`'s container. Every blob's blocks are staged (uncommitted, so invisible) and checked
 * against the listing's size and sha256 first; only when every entry of the point checked out are the blobs
 * committed, with their Content-Type, headers and metadata. With `clean`, blobs the point does not have are
 * deleted afterwards, so the container ends up exactly as the point.
 */
export async function restorePoint(
  client: ContainerClient,
  members: AsyncIterable<ChainMember>,
  point: BackupContent,
  clean: boolean,
): Promise<void> {
  const wanted = pointEntries(point);
  const stager = new BlockStager(client);
  const staged = new Map<string, StagedBlob>();
  for await (const member of members) {
    await readMember(member, async (tarEntry) => {
      const entry = wantedFrom(wanted, member, tarEntry, staged);
      if (!entry) return;
      const label = `blob "${entry.path}" in backup ${member.backupId}`;
      if (tarEntry.size !== entry.size) {
        throw new SourceError(
          'restore-failed',
          `${label} has ${String(tarEntry.size)} bytes, the manifest says ${String(entry.size)}; nothing was written`,
        );
      }
      const { sha256, blocks } = await stageBody(tarEntry.body, entry, stager);
      if (sha256 !== entry.sha256) {
        throw new SourceError('restore-failed', `${label} does not match its sha256; nothing was written`);
      }
      staged.set(entry.path, { entry, blocks, ...attributesFromPax(tarEntry.pax) });
    });
  }
  await stager.flush();
  for (const entry of wanted.values()) {
    if (!staged.has(entry.path)) {
      throw new SourceError(
        'restore-failed',
        `blob "${entry.path}" (expected in backup ${entry.in}) is in none of the given backups; nothing was written`,
      );
    }
  }
  await forEachLimit([...staged.values()], FINISH_CONCURRENCY, (blob) => commit(client, stager, blob));
  if (clean) await removeExtra(client, wanted);
}

/** Reads one member for a restore, stopping it on failure; a damaged tar fails the restore naming the member. */
async function readMember(member: ChainMember, visit: (entry: TarEntry) => Promise<void>): Promise<void> {
  try {
    await readTar(member.stream, visit, { onError: 'destroy' });
  } catch (err) {
    if (!(err instanceof TarFormatError)) throw err;
    throw new SourceError(
      'restore-failed',
      `backup ${member.backupId} is not a readable tar (${err.message}); nothing was written`,
    );
  }
}

/** Stages a tar entry's bytes block by block, hashing them; memory is bounded by the stager's budget. */
async function stageBody(
  body: AsyncIterable<Buffer>,
  entry: FileEntry,
  stager: BlockStager,
): Promise<{ sha256: string; blocks: number }> {
  const hash = createHash('sha256');
  const blockSize = blockSizeFor(entry.size);
  let remaining = entry.size;
  let block = Buffer.allocUnsafe(Math.min(blockSize, remaining));
  let filled = 0;
  let blocks = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    let offset = 0;
    while (offset < chunk.length && block.length > 0) {
      const n = Math.min(block.length - filled, chunk.length - offset);
      chunk.copy(block, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === block.length) {
        await stager.stage(entry.path, blocks++, block);
        remaining -= block.length;
        block = Buffer.allocUnsafe(Math.min(blockSize, remaining));
        filled = 0;
      }
    }
  }
  return { sha256: hash.digest('hex'), blocks };
}

async function commit(client: ContainerClient, stager: BlockStager, blob: StagedBlob): Promise<void> {
  const ids = Array.from({ length: blob.blocks }, (_, index) => stager.blockId(index));
  const { entry, headers } = blob;
  await client.getBlockBlobClient(entry.path).commitBlockList(ids, {
    blobHTTPHeaders: {
      ...(entry.contentType !== undefined && { blobContentType: entry.contentType }),
      // Checked at dump time against these very bytes, so the restored blob carries it again.
      ...(entry.contentMd5 !== undefined && { blobContentMD5: Buffer.from(entry.contentMd5, 'base64') }),
      ...(headers.contentEncoding !== undefined && { blobContentEncoding: headers.contentEncoding }),
      ...(headers.contentLanguage !== undefined && { blobContentLanguage: headers.contentLanguage }),
      ...(headers.contentDisposition !== undefined && { blobContentDisposition: headers.contentDisposition }),
      ...(headers.cacheControl !== undefined && { blobCacheControl: headers.cacheControl }),
    },
    metadata: blob.metadata,
  });
}

async function removeExtra(client: ContainerClient, wanted: ReadonlyMap<string, FileEntry>): Promise<void> {
  for await (const page of client.listBlobsFlat().byPage({ maxPageSize: 5000 })) {
    const extra = page.segment.blobItems.map((item) => item.name).filter((name) => !wanted.has(name));
    await forEachLimit(extra, FINISH_CONCURRENCY, async (name) => {
      await client.getBlobClient(name).deleteIfExists({ deleteSnapshots: 'include' });
    });
  }
}

/**
 * The blob restore test: reads every entry the point needs from its members, with no writes anywhere, and checks
 * that each is present ('blobs') with the listing's size and sha256 ('sha256'). Damage is a failed check.
 */
export async function testPoint(members: AsyncIterable<ChainMember>, point: BackupContent): Promise<Check[]> {
  const wanted = pointEntries(point);
  const found = new Set<string>();
  const mismatched: string[] = [];
  const unreadable: string[] = [];
  let matched = 0;
  for await (const member of members) {
    try {
      await readTar(
        member.stream,
        async (tarEntry) => {
          const entry = wantedFrom(wanted, member, tarEntry, found);
          if (!entry) return;
          const hash = createHash('sha256');
          let bytes = 0;
          for await (const chunk of tarEntry.body) {
            hash.update(chunk);
            bytes += chunk.length;
          }
          // Only an entry read to its end counts as present.
          found.add(entry.path);
          if (bytes !== entry.size)
            mismatched.push(`"${entry.path}" has ${String(bytes)} bytes, expected ${String(entry.size)}`);
          else if (hash.digest('hex') !== entry.sha256)
            mismatched.push(`"${entry.path}" does not match its sha256`);
          else matched++;
        },
        { onError: 'drain' },
      );
    } catch (err) {
      // A damaged artifact is a failed check; a failing input (the download) is not the backup's fault.
      if (!(err instanceof TarFormatError)) throw err;
      unreadable.push(`backup ${member.backupId} is not a readable tar (${err.message})`);
    }
  }
  const missing = [...wanted.keys()].filter((name) => !found.has(name));
  const blobs: Check = { name: 'blobs', ok: missing.length === 0, expected: wanted.size, actual: found.size };
  const problems = [...unreadable, ...(missing.length > 0 ? [`first missing: "${String(missing[0])}"`] : [])];
  if (problems.length > 0) blobs.detail = problems.join('; ');
  const sha256: Check = {
    name: 'sha256',
    ok: matched === wanted.size,
    expected: wanted.size,
    actual: matched,
  };
  if (mismatched.length > 0) {
    sha256.detail = `${String(mismatched.length)} mismatched, first: ${String(mismatched[0])}`;
  } else if (missing.length > 0) {
    sha256.detail = 'missing blobs could not be checked';
  }
  return [blobs, sha256];
}
