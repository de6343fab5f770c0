import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BackupContent, FileEntry } from '@tidemark/manifest';
import { SourceError, TarWriter } from '@tidemark/source-contract';
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

/**
 * Streams the tree as a tar: a full writes every file, an incremental only those whose size and mtime (or, when
 * only the mtime moved, whose sha256) differ from `previous`. Unchanged entries keep the `in` of their holder.
 */
export function startTarDump(options: TarDumpOptions): TarDump {
  const { root } = options;
  // Failures reach the consumer through stdout and the caller through `content`.
  const writer = new TarWriter();
  const stdout = writer.stream;
  const state = { aborted: false };
  const content = produce(options, writer, state).catch((err: unknown) => {
    const error = state.aborted
      ? new SourceError('dump-failed', `dump of ${root} was aborted`)
      : err instanceof SourceError
        ? err
        : new SourceError(
            'dump-failed',
            writer.destroyed
              ? `the tar stream of ${root} was closed before its end`
              : `tar of ${root} failed: ${err instanceof Error ? err.message : String(err)}`,
          );
    // The consumer must see an error, never a short tar that looks complete.
    writer.destroy(error);
    throw error;
  });
  content.catch(() => undefined);
  return {
    stdout,
    content,
    abort: () => {
      state.aborted = true;
      // stdout first: destroying the writer alone could end stdout as if the tar were complete.
      stdout.destroy();
      writer.destroy(new SourceError('dump-failed', `dump of ${root} was aborted`));
    },
  };
}

async function produce(
  options: TarDumpOptions,
  writer: TarWriter,
  state: { aborted: boolean },
): Promise<BackupContent> {
  const listed = await walk(options.root, { exclude: options.exclude, stopped: () => state.aborted });
  const previous = new Map((options.previous?.files ?? []).map((entry) => [entry.path, entry]));
  const files: FileEntry[] = [];
  const vanished: string[] = [];
  for (const item of listed) {
    if (state.aborted || writer.destroyed) throw new Error('the tar stream was closed');
    const entry = await dumpOne(options, writer, item, previous.get(item.path));
    if (entry) files.push(entry);
    else vanished.push(item.path);
  }
  writer.finish();
  return { tables: [], files, vanished };
}

/** The listing entry for one walked item, writing its tar member when it changed; undefined when it vanished. */
async function dumpOne(
  options: TarDumpOptions,
  writer: TarWriter,
  item: Listed,
  before: FileEntry | undefined,
): Promise<FileEntry | undefined> {
  const meta = { path: item.path, type: item.type, size: item.size, mtimeMs: item.mtimeMs, mode: item.mode };
  const mtime = new Date(item.mtimeMs);
  if (item.type === 'dir') {
    // Directories are rebuilt from the listing; the tar member is for people restoring with stock tar.
    if (before?.type === 'dir') return { ...meta, in: before.in };
    await writer.add({ name: item.path, type: 'directory', mode: item.mode, mtime });
    return { ...meta, in: options.backupId };
  }
  if (item.type === 'symlink') {
    const linkTarget = item.linkTarget ?? '';
    if (before?.type === 'symlink' && before.linkTarget === linkTarget)
      return { ...meta, linkTarget, in: before.in };
    await writer.add({
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
    const sha256 = await writeFile(writer, item.path, file);
    return { ...opened, sha256, in: options.backupId };
  } finally {
    await file.handle.close().catch(() => undefined);
  }
}

async function writeFile(writer: TarWriter, rel: string, file: OpenedFile): Promise<string> {
  const entry = writer.open({
    name: rel,
    type: 'file',
    size: file.size,
    mode: file.mode,
    mtime: new Date(file.mtimeMs),
  });
  const sha256 = await readExactly(file, rel, (chunk) => entry.write(chunk));
  await entry.end();
  return sha256;
}
