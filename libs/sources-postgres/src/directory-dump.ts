import { open, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  describeFailure,
  errorCode,
  oneLine,
  type RunningTool,
  SourceError,
  startTool,
  TarWriter,
} from '@tidemark/source-contract';
import { isSafeMemberName } from './dump-tar';

export interface DirectoryDumpOptions {
  pgDumpPath: string;
  /** Everything but the directory format, jobs and output flags (snapshot, excludes, --no-password). */
  args: string[];
  env: NodeJS.ProcessEnv;
  jobs: number;
  /** Where pg_dump writes its directory; must not exist yet (removed first when it does). */
  dir: string;
  clean: (text: string) => string;
}

export interface DirectoryDump {
  /** The directory as a tar: data files as pg_dump finishes them, toc.dat last, then the end-of-archive blocks. */
  stdout: Readable;
  /** Resolves when pg_dump exited 0 and every file is in the tar; rejects with SourceError('dump-failed'). */
  done: Promise<void>;
  /** Resolves when pg_dump has exited (its snapshot may go then): with its failure, undefined when it exited 0. */
  exited: Promise<SourceError | undefined>;
  abort(): void;
}

// With -v the leader logs each job a worker reported done; a table's file is closed before the worker reports.
const FINISHED_DATA = /^pg_dump: finished item (\d+) TABLE DATA /;
const READ_SIZE = 1 << 20;

/**
 * `pg_dump -Fd -j N` into `dir`, streamed as a tar while it runs: each table's file goes into the tar (and is
 * deleted) once pg_dump reports it finished, so the upload overlaps the dump and the directory never holds more
 * than the backlog; whatever was not announced (large objects, toc.dat) follows once pg_dump exited 0.
 */
export async function startDirectoryDump(options: DirectoryDumpOptions): Promise<DirectoryDump> {
  await rm(options.dir, { recursive: true, force: true });
  const tool = startTool(
    options.pgDumpPath,
    ['-Fd', `--jobs=${options.jobs}`, '-Z0', '-v', ...options.args, `--file=${options.dir}`],
    options.env,
    { stdin: false, stdout: false },
  );
  const ready = new ReadyFiles();
  const errors = watchStderr(tool, (line) => {
    const match = FINISHED_DATA.exec(line);
    if (match) ready.push(`${match[1] ?? ''}.dat`);
  });
  const state = { aborted: false, completed: false };
  // Read through a function: abort() flips it while the writer is waiting.
  const isAborted = (): boolean => state.aborted;
  const exited = tool.exit.then((exit) => {
    ready.close();
    return exit.code === 0
      ? undefined
      : new SourceError('dump-failed', options.clean(errors.first() ?? describeFailure('pg_dump', exit)));
  });
  const failure = (): SourceError => new SourceError('dump-failed', 'pg_dump was aborted');

  const writer = new TarWriter({ highWaterMark: READ_SIZE });
  const produce = async (): Promise<void> => {
    const streamed = new Set<string>();
    for (let name = await ready.next(); name !== undefined; name = await ready.next()) {
      if (isAborted()) throw failure();
      if (await member(writer, options.dir, name)) streamed.add(name);
    }
    const toolFailure = await exited;
    if (isAborted()) throw failure();
    if (toolFailure) throw toolFailure;
    // toc.dat last: a reader that finds it knows every data file came before.
    const rest = (await readdir(options.dir))
      .filter((name) => !streamed.has(name))
      .sort((a, b) => Number(a === 'toc.dat') - Number(b === 'toc.dat') || a.localeCompare(b));
    for (const name of rest) {
      if (isAborted()) throw failure();
      if (!(await member(writer, options.dir, name))) {
        throw new SourceError('dump-failed', `pg_dump's file ${name} vanished before it was read`);
      }
    }
    writer.finish();
    state.completed = true;
  };

  let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  done.catch(() => undefined);
  void (async () => {
    let error: unknown;
    try {
      await produce();
    } catch (err) {
      // A reader that went away (abort) is why writing failed; otherwise the reader must see the failure.
      error = writer.destroyed ? failure() : err;
      writer.destroy(err instanceof Error ? err : new Error(String(err)));
    } finally {
      // Reached on success, failure and when the reader stops (abort): nothing may be left running.
      if (!state.completed) tool.kill();
      await tool.exit;
      await rm(options.dir, { recursive: true, force: true }).catch(() => undefined);
      if (state.completed) settle?.resolve();
      else settle?.reject(error ?? failure());
    }
  })();
  const stdout = writer.stream;
  return {
    stdout,
    done,
    exited,
    abort: () => {
      state.aborted = true;
      tool.kill();
      stdout.destroy();
      // Wakes a writer waiting for a reader that never came; its cleanup then removes the directory.
      writer.destroy(failure());
      settle?.reject(failure());
    },
  };
}

/** Writes one file as a tar member and deletes it; false when the file is not there. */
async function member(writer: TarWriter, dir: string, name: string): Promise<boolean> {
  if (!isSafeMemberName(name)) throw new Error(`cannot store "${name}" in the tar`);
  const path = join(dir, name);
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
  try {
    const info = await handle.stat();
    const entry = writer.open({ name, type: 'file', size: info.size, mtime: info.mtime, mode: 0o644 });
    let left = info.size;
    while (left > 0) {
      const buffer = Buffer.allocUnsafe(Math.min(READ_SIZE, left));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0)
        throw new SourceError('dump-failed', `pg_dump's file ${name} shrank while it was read`);
      left -= bytesRead;
      await entry.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
    }
    await entry.end();
  } finally {
    await handle.close();
  }
  await unlink(path);
  return true;
}

/** File names in the order pg_dump finished them; `next()` is undefined once pg_dump exited and all were taken. */
class ReadyFiles {
  private readonly queue: string[] = [];
  private closed = false;
  private wake: (() => void) | undefined;

  push(name: string): void {
    this.queue.push(name);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  async next(): Promise<string | undefined> {
    while (this.queue.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
    return this.queue.shift();
  }
}

/**
 * Reads pg_dump's stderr line by line (as well as startTool's capped capture): -v makes it long, and the line that
 * explains a failure may come after more than the cap.
 */
function watchStderr(tool: RunningTool, onLine: (line: string) => void): { first: () => string | undefined } {
  let carry = '';
  let first: string | undefined;
  const take = (line: string): void => {
    if (first === undefined && /\berror:|\bFATAL\b|\bERROR\b/.test(line)) first = oneLine(line);
    onLine(line);
  };
  tool.child.stderr?.on('data', (text: string | Buffer) => {
    const lines = (carry + text.toString()).split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) take(line);
  });
  tool.child.stderr?.on('end', () => {
    if (carry) take(carry);
    carry = '';
  });
  return { first: () => first };
}
