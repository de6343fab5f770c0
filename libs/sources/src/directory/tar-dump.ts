import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { BackupContent, FileEntry } from '@tidemark/manifest';
import tar, { type Pack } from 'tar-stream';
import { SourceError } from '../source';
import { openListedFile, readExactly, type OpenedFile } from './file-read';
import type { Excluder } from './location';
import { walk, type Listed } from './walk';

/** Test seams: run between listing and opening a file, and between opening it and reading its bytes. */
export interface DumpHooks {
  onBeforeOpen?: (path: string) => Promise<void>;
  onBeforeRead?: (path: string) => Promise<void>;
}

export interface TarDumpOptions {
  root: string;
  backupId: string;
  previous?: { backupId: string; files: FileEntry[] } | undefined;
  exclude: Excluder;
  hooks: DumpHooks;
}

export interface TarDump {
  stdout: Readable;
  /** The complete listing at this point; rejects with SourceError('dump-failed') when the tar could not be made. */
  content: Promise<BackupContent>;
  abort(): void;
}

type EntryHeader = Parameters<Pack['entry']>[0];
type EntrySink = ReturnType<Pack['entry']>;

// ustar holds 100 bytes of name; longer names go into a pax header rather than ustar's prefix split.
const USTAR_NAME_BYTES = 100;

/**
 * Streams the tree as a tar: a full writes every file, an incremental only those whose size and mtime (or, when
 * only the mtime moved, whose sha256) differ from `previous`. Unchanged entries keep the `in` of their holder.
 */
export function startTarDump(options: TarDumpOptions): TarDump {
  const { root } = options;
  const pack = tar.pack();
  // Failures reach the consumer through stdout and the caller through `content`; an unheard 'error' would crash.
  pack.on('error', ignore);
  // objectMode false: the consumer sees a byte stream, with backpressure reaching back to our file reads.
  const stdout = Readable.from(pack, { objectMode: false });
  const state = { aborted: false };
  const content = produce(options, pack, state).catch((err: unknown) => {
    const error = state.aborted
      ? new SourceError('dump-failed', `dump of ${root} was aborted`)
      : err instanceof SourceError
        ? err
        : new SourceError(
            'dump-failed',
            pack.destroyed
              ? `the tar stream of ${root} was closed before its end`
              : `tar of ${root} failed: ${err instanceof Error ? err.message : String(err)}`,
          );
    // The consumer must see an error, never a short tar that looks complete.
    pack.destroy(error);
    throw error;
  });
  content.catch(() => undefined);
  return {
    stdout,
    content,
    abort: () => {
      state.aborted = true;
      // stdout first: destroying the pack alone could end stdout as if the tar were complete.
      stdout.destroy();
      pack.destroy(new SourceError('dump-failed', `dump of ${root} was aborted`));
    },
  };
}

async function produce(
  options: TarDumpOptions,
  pack: Pack,
  state: { aborted: boolean },
): Promise<BackupContent> {
  const listed = await walk(options.root, { exclude: options.exclude, stopped: () => state.aborted });
  const previous = new Map((options.previous?.files ?? []).map((entry) => [entry.path, entry]));
  const files: FileEntry[] = [];
  const vanished: string[] = [];
  for (const item of listed) {
    if (state.aborted || pack.destroyed) throw new Error('the tar stream was closed');
    const entry = await dumpOne(options, pack, item, previous.get(item.path));
    if (entry) files.push(entry);
    else vanished.push(item.path);
  }
  pack.finalize();
  return { tables: [], files, vanished };
}

/** The listing entry for one walked item, writing its tar member when it changed; undefined when it vanished. */
async function dumpOne(
  options: TarDumpOptions,
  pack: Pack,
  item: Listed,
  before: FileEntry | undefined,
): Promise<FileEntry | undefined> {
  const meta = { path: item.path, type: item.type, size: item.size, mtimeMs: item.mtimeMs, mode: item.mode };
  const mtime = new Date(item.mtimeMs);
  if (item.type === 'dir') {
    // Directories are rebuilt from the listing; the tar member is for people restoring with stock tar.
    if (before?.type === 'dir') return { ...meta, in: before.in };
    await writeEntry(pack, { name: item.path, type: 'directory', mode: item.mode, mtime });
    return { ...meta, in: options.backupId };
  }
  if (item.type === 'symlink') {
    const linkTarget = item.linkTarget ?? '';
    if (before?.type === 'symlink' && before.linkTarget === linkTarget)
      return { ...meta, linkTarget, in: before.in };
    await writeEntry(pack, {
      name: item.path,
      type: 'symlink',
      linkname: linkTarget,
      mode: item.mode,
      mtime,
    });
    return { ...meta, linkTarget, in: options.backupId };
  }
  const carried = before?.type === 'file' && before.sha256 !== undefined ? before : undefined;
  if (carried && carried.size === item.size && carried.mtimeMs === item.mtimeMs)
    return { ...meta, sha256: carried.sha256, in: carried.in };

  await options.hooks.onBeforeOpen?.(item.path);
  const file = await openListedFile(join(options.root, item.path), item.path);
  if (!file) return undefined;
  try {
    await options.hooks.onBeforeRead?.(item.path);
    // The file's own stat, taken after opening, is what the entry records: the listing may be seconds old.
    const opened = { ...meta, size: file.size, mtimeMs: file.mtimeMs, mode: file.mode };
    if (carried && carried.size === file.size) {
      // Only the mtime moved (a touch, a rewrite of the same bytes): hashing is cheaper than storing it again.
      const sha256 = await readExactly(file, item.path, () => undefined);
      if (sha256 === carried.sha256) return { ...opened, sha256, in: carried.in };
    }
    const sha256 = await writeFile(pack, item.path, file);
    return { ...opened, sha256, in: options.backupId };
  } finally {
    await file.handle.close().catch(() => undefined);
  }
}

function headerFor(header: EntryHeader): EntryHeader {
  // An empty pax record set makes tar-stream write the name (and link name) as pax records.
  return Buffer.byteLength(header.name) > USTAR_NAME_BYTES ? { ...header, pax: {} } : header;
}

/** Writes a member without a body (directory, symlink) and waits until the pack has taken it. */
function writeEntry(pack: Pack, header: EntryHeader): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(headerFor(header), (err?: Error | null) => {
      if (err) reject(err);
      else resolve();
    });
  });
}

async function writeFile(pack: Pack, rel: string, file: OpenedFile): Promise<string> {
  let sink: EntrySink | undefined;
  const taken = new Promise<void>((resolve, reject) => {
    sink = pack.entry(
      headerFor({
        name: rel,
        type: 'file',
        size: file.size,
        mode: file.mode,
        mtime: new Date(file.mtimeMs),
      }),
      (err?: Error | null) => {
        if (err) reject(err);
        else resolve();
      },
    );
  });
  taken.catch(() => undefined);
  if (!sink) throw new Error('tar-stream returned no entry stream');
  const entry = sink;
  // The entry fails when the pack does; its callback reports that, so the event itself needs no listener.
  entry.on('error', ignore);
  const sha256 = await readExactly(file, rel, (chunk) => write(entry, chunk));
  entry.end(undefined);
  await taken;
  return sha256;
}

const ignore = (): void => undefined;

function write(sink: EntrySink, chunk: Buffer): Promise<void> | undefined {
  if (sink.destroyed) throw new Error('the tar stream was closed');
  if (sink.write(chunk)) return undefined;
  return new Promise((resolve, reject) => {
    const done = (): void => {
      sink.off('drain', done);
      sink.off('close', closed);
      resolve();
    };
    const closed = (): void => {
      sink.off('drain', done);
      sink.off('close', closed);
      reject(new Error('the tar stream was closed'));
    };
    sink.on('drain', done);
    sink.on('close', closed);
  });
}
