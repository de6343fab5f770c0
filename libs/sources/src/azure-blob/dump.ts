import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import type { BackupContent, FileEntry } from '@tidemark/manifest';
import tar from 'tar-stream';
import { SourceError, type DumpContext, type DumpHandle } from '../source';
import { drained, entryHeader } from './blob-tar';
import { serviceFailure, toSourceError, type CallContext } from './errors';
import { toFileEntry, unchangedEntry, type ListedBlob } from './listing';

/** Resumes of a broken download stream, each from where it broke and pinned to the listed ETag. */
const DOWNLOAD_RESUMES = 5;

export interface DumpRun {
  client: ContainerClient;
  context: DumpContext;
  blobs: ListedBlob[];
  /** For error messages: host, container and secrets to mask. */
  call: Omit<CallContext, 'action' | 'code'>;
  onBeforeDownload?: ((name: string) => Promise<void>) | undefined;
}

interface Written {
  sha256: string;
}

/**
 * Streams every new or changed blob into one tar (in listing order) while the caller reads `stdout`; unchanged
 * blobs (same ETag as in `context.previous`) keep the entry of the backup that holds them.
 */
export function startDump(run: DumpRun): DumpHandle {
  const pack = tar.pack();
  // A Node stream for the caller; it pulls from the pack, so a slow reader slows the downloads down.
  const stdout = Readable.from(pack, { objectMode: false });
  const controller = new AbortController();
  const files: FileEntry[] = [];
  const vanished: string[] = [];
  const previous = new Map((run.context.previous?.files ?? []).map((entry) => [entry.path, entry]));

  const finished = (async () => {
    try {
      for (const blob of run.blobs) {
        if (controller.signal.aborted) throw new SourceError('dump-failed', 'the blob dump was aborted');
        const carried = unchangedEntry(blob, previous);
        if (carried) {
          files.push(carried);
          continue;
        }
        const written = await writeBlob(run, blob, pack, controller.signal);
        if (written) files.push(toFileEntry(blob, run.context.backupId, written.sha256));
        else vanished.push(blob.name);
      }
      pack.finalize();
    } catch (err) {
      const error = controller.signal.aborted
        ? new SourceError('dump-failed', 'the blob dump was aborted')
        : toSourceError(err, {
            ...run.call,
            action: `dump of container "${run.call.container}"`,
            code: 'dump-failed',
          });
      // The reader must see a failure, never a short tar that looks complete.
      pack.destroy(error);
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
      controller.abort();
      pack.destroy(new Error('the blob dump was aborted'));
      stdout.destroy();
    },
  };
}

/** Downloads one blob into a tar entry, hashing as it goes; undefined when the blob was deleted meanwhile. */
async function writeBlob(
  run: DumpRun,
  blob: ListedBlob,
  pack: tar.Pack,
  signal: AbortSignal,
): Promise<Written | undefined> {
  const label = `blob "${blob.name}"`;
  if (blob.accessTier === 'Archive') {
    throw new SourceError(
      'dump-failed',
      `${label} is in the Archive tier; rehydrate it before it can be backed up`,
    );
  }
  await run.onBeforeDownload?.(blob.name);
  let body: NodeJS.ReadableStream;
  try {
    const response = await run.client.getBlobClient(blob.name).download(0, undefined, {
      conditions: { ifMatch: blob.etag },
      maxRetryRequests: DOWNLOAD_RESUMES,
      abortSignal: signal,
    });
    if (!response.readableStreamBody)
      throw new SourceError('dump-failed', `${label}: the service sent no body`);
    body = response.readableStreamBody;
  } catch (err) {
    const { status, serviceCode } = serviceFailure(err);
    if (status === 404 && serviceCode !== 'ContainerNotFound') return undefined;
    throw downloadError(err, run, label);
  }

  const sha256 = createHash('sha256');
  // Only blobs that carry a Content-MD5 can be checked against it.
  const md5 = blob.contentMd5 === undefined ? undefined : createHash('md5');
  let bytes = 0;
  const sink = pack.entry(entryHeader(blob));
  const entryDone = new Promise<void>((resolve, reject) => {
    sink.once('error', reject);
    sink.once('finish', resolve);
    sink.once('close', resolve);
  });
  entryDone.catch(() => undefined);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      // A torn-down pack never drains again; stop instead of waiting for it.
      if (signal.aborted) throw new SourceError('dump-failed', 'the blob dump was aborted');
      bytes += chunk.length;
      if (bytes > blob.size) break;
      sha256.update(chunk);
      md5?.update(chunk);
      if (!sink.write(chunk)) await drained(sink);
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
  sink.end(undefined);
  await entryDone;
  if (md5 && md5.digest('base64') !== blob.contentMd5) {
    throw new SourceError(
      'dump-failed',
      `${label} does not match its Content-MD5 (the stored bytes are damaged)`,
    );
  }
  return { sha256: sha256.digest('hex') };
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
