import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobClient, ContainerClient } from '@azure/storage-blob';
import type { BackupContent, FileEntry } from '@tidemark/manifest';
import { type DumpContext, type DumpHandle, SourceError, TarWriter } from '@tidemark/source-contract';
import { entryHeader } from './blob-tar';
import { serviceFailure } from '@tidemark/azure-blob-sdk';
import { toSourceError, type CallContext } from './errors';
import { currentBlob, toFileEntry, unchangedEntry, type ListedBlob } from './listing';

/** Resumes of a broken download stream, each from where it broke and pinned to the listed ETag. */
const DOWNLOAD_RESUMES = 5;
/**
 * A blob overwritten between listing and download is read again as it is now, this many times; a blob that
 * changes faster than it can be read fails the dump (retried) rather than being recorded torn.
 */
const CHANGED_REREADS = 5;
/**
 * Downloads opened ahead of the one being written, to hide per-request latency with many small blobs. Their
 * bodies wait unread (only socket buffers fill), so memory stays bounded.
 */
const OPEN_AHEAD = 4;

export interface DumpRun {
  client: ContainerClient;
  context: DumpContext;
  blobs: ListedBlob[];
  /** For error messages: host, container and secrets to mask. */
  call: Omit<CallContext, 'action' | 'code'>;
  onBeforeDownload?: ((name: string) => Promise<void>) | undefined;
}

/** A started download (of the blob as listed, or as it is now if it changed since), or a deleted blob. */
type Opened = { body: Readable; blob: ListedBlob } | { vanished: true };

const aborted = (): SourceError => new SourceError('dump-failed', 'the blob dump was aborted');

/**
 * Streams every new or changed blob into one tar (in listing order) while the caller reads `stdout`; unchanged
 * blobs (same ETag as in `context.previous`) keep the entry of the backup that holds them.
 */
export function startDump(run: DumpRun): DumpHandle {
  const writer = new TarWriter();
  // The caller pulls from the tar, so a slow reader slows the downloads down.
  const stdout = writer.stream;
  const controller = new AbortController();
  const state = { abortedByCaller: false };
  const files: FileEntry[] = [];
  const vanished: string[] = [];
  const previous = new Map((run.context.previous?.files ?? []).map((entry) => [entry.path, entry]));
  const plan = run.blobs.map((blob) => ({ blob, carried: unchangedEntry(blob, previous) }));
  const toFetch = plan.filter((item) => item.carried === undefined).map((item) => item.blob);
  const opening: Promise<Opened>[] = [];

  const finished = (async () => {
    let fetched = 0;
    try {
      for (const { blob, carried } of plan) {
        if (state.abortedByCaller) throw aborted();
        if (carried) {
          files.push(carried);
          continue;
        }
        while (opening.length < Math.min(fetched + OPEN_AHEAD, toFetch.length)) {
          const next = toFetch[opening.length];
          if (!next) break;
          const opened = openBlob(run, next, controller.signal);
          opened.catch(() => undefined);
          opening.push(opened);
        }
        const opened = await opening[fetched++];
        if (!opened || 'vanished' in opened) {
          vanished.push(blob.name);
          continue;
        }
        const sha256 = await writeBlob(run, opened.blob, opened.body, writer, controller.signal);
        files.push(toFileEntry(opened.blob, run.context.backupId, sha256));
      }
      writer.finish();
    } catch (err) {
      const error = state.abortedByCaller
        ? aborted()
        : toSourceError(err, {
            ...run.call,
            action: `dump of container "${run.call.container}"`,
            code: 'dump-failed',
          });
      discard(opening.slice(fetched));
      controller.abort();
      // The reader must see a failure, never a short tar that looks complete.
      writer.destroy(error);
      stdout.destroy(error);
      throw error;
    }
  })();
  finished.catch(() => undefined);
  const content = finished.then((): BackupContent => ({ tables: [], files, vanished }));
  content.catch(() => undefined);
  return {
    stdout,
    content,
    finished,
    abort: () => {
      state.abortedByCaller = true;
      controller.abort();
      writer.destroy(aborted());
      stdout.destroy();
    },
  };
}

/**
 * Runs the test hook and starts the download, pinned to the listed ETag. A blob overwritten since the listing
 * is read as it is now (its new ETag, size and headers), so a busy container still gets a backup.
 */
async function openBlob(run: DumpRun, listed: ListedBlob, signal: AbortSignal): Promise<Opened> {
  let blob = listed;
  for (let reread = 0; ; reread++) {
    await run.onBeforeDownload?.(blob.name);
    const opened = await openVersion(run, blob, signal);
    if (opened !== 'changed') return opened;
    const label = `blob "${blob.name}"`;
    if (reread >= CHANGED_REREADS)
      throw new SourceError(
        'dump-failed',
        `${label} changed while it was read, ${String(reread + 1)} times; retry`,
      );
    let now: ListedBlob | undefined;
    try {
      now = await currentBlob(run.client, blob.name);
    } catch (err) {
      throw toSourceError(err, { ...run.call, action: `check of ${label}`, code: 'dump-failed' });
    }
    if (!now) return { vanished: true };
    blob = now;
  }
}

async function openVersion(run: DumpRun, blob: ListedBlob, signal: AbortSignal): Promise<Opened | 'changed'> {
  const label = `blob "${blob.name}"`;
  if (blob.accessTier === 'Archive') {
    throw new SourceError(
      'dump-failed',
      `${label} is in the Archive tier; rehydrate it before it can be backed up`,
    );
  }
  const client = run.client.getBlobClient(blob.name);
  try {
    const response = await client.download(0, undefined, {
      conditions: { ifMatch: blob.etag },
      maxRetryRequests: DOWNLOAD_RESUMES,
      abortSignal: signal,
    });
    const body = response.readableStreamBody;
    if (!(body instanceof Readable))
      throw new SourceError('dump-failed', `${label}: the service sent no body`);
    // Read errors surface through the reader; a body opened ahead may fail (an abort) before anyone reads it.
    body.on('error', () => undefined);
    return { body, blob };
  } catch (err) {
    const { status, serviceCode } = serviceFailure(err);
    if (status === 404 && serviceCode !== 'ContainerNotFound') return { vanished: true };
    // If-Match on a deleted blob may fail as a condition rather than as not found (Azurite does).
    if (status === 412 || serviceCode === 'ConditionNotMet')
      return (await existsNow(client, run, label)) ? 'changed' : { vanished: true };
    throw downloadError(err, run, label);
  }
}

/** Copies a download into a tar entry, hashing as it goes; returns the sha256. */
async function writeBlob(
  run: DumpRun,
  blob: ListedBlob,
  body: Readable,
  writer: TarWriter,
  signal: AbortSignal,
): Promise<string> {
  const label = `blob "${blob.name}"`;
  const sha256 = createHash('sha256');
  // Only blobs that carry a Content-MD5 can be checked against it.
  const md5 = blob.contentMd5 === undefined ? undefined : createHash('md5');
  let bytes = 0;
  const sink = writer.open(entryHeader(blob));
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      // A torn-down writer never drains again; stop instead of waiting for it.
      if (signal.aborted) throw aborted();
      bytes += chunk.length;
      if (bytes > blob.size) break;
      sha256.update(chunk);
      md5?.update(chunk);
      await sink.write(chunk);
    }
  } catch (err) {
    sink.destroy();
    throw downloadError(err, run, label);
  }
  if (bytes !== blob.size) {
    sink.destroy();
    throw new SourceError(
      'dump-failed',
      `${label} sent ${String(bytes)} bytes, the listing said ${String(blob.size)}`,
    );
  }
  await sink.end();
  if (md5 && md5.digest('base64') !== blob.contentMd5) {
    throw new SourceError(
      'dump-failed',
      `${label} does not match its Content-MD5 (the stored bytes are damaged)`,
    );
  }
  return sha256.digest('hex');
}

/** Closes downloads that were opened ahead but will not be read. */
function discard(opened: Promise<Opened>[]): void {
  for (const pending of opened) {
    pending.then(
      (result) => {
        if ('body' in result) result.body.destroy();
      },
      () => undefined,
    );
  }
}

async function existsNow(client: BlobClient, run: DumpRun, label: string): Promise<boolean> {
  try {
    return await client.exists();
  } catch (err) {
    throw toSourceError(err, { ...run.call, action: `check of ${label}`, code: 'dump-failed' });
  }
}

function downloadError(err: unknown, run: DumpRun, label: string): SourceError {
  if (err instanceof SourceError) return err;
  const { status, serviceCode } = serviceFailure(err);
  if (status === 412 || serviceCode === 'ConditionNotMet') {
    return new SourceError('dump-failed', `${label} changed while it was read; retry`);
  }
  if (serviceCode === 'BlobArchived') {
    return new SourceError(
      'dump-failed',
      `${label} is in the Archive tier; rehydrate it before it can be backed up`,
    );
  }
  return toSourceError(err, { ...run.call, action: `download of ${label}`, code: 'dump-failed' });
}
