import { open, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describeFailure, startTool, type RunningTool } from '../process';
import { SourceError } from '../source';
import { fileHeader, padding, TAR_END } from './tar';

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
  // Read through a function: abort() flips it while the generator is suspended.
  const isAborted = (): boolean => state.aborted;
  const exited = tool.exit.then((exit) => {
    ready.close();
    return exit.code === 0
      ? undefined
      : new SourceError('dump-failed', options.clean(errors.first() ?? describeFailure('pg_dump', exit)));
  });
  const failure = (): SourceError => new SourceError('dump-failed', 'pg_dump was aborted');

  const produce = async function* (): AsyncGenerator<Buffer> {
    const streamed = new Set<string>();
    for (let name = await ready.next(); name !== undefined; name = await ready.next()) {
      if (isAborted()) throw failure();
      if (yield* member(options.dir, name)) streamed.add(name);
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
      if (!(yield* member(options.dir, name))) {
        throw new SourceError('dump-failed', `pg_dump's file ${name} vanished before it was read`);
      }
    }
    yield TAR_END;
    state.completed = true;
  };

  let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  done.catch(() => undefined);
  const generator = (async function* (): AsyncGenerator<Buffer> {
    let error: unknown;
    try {
      yield* produce();
    } catch (err) {
      error = err;
      throw err;
    } finally {
      // Reached on success, failure and when the consumer stops reading (abort): nothing may be left running.
      if (!state.completed) tool.kill();
      await tool.exit;
      await rm(options.dir, { recursive: true, force: true }).catch(() => undefined);
      if (state.completed) settle?.resolve();
      else settle?.reject(error ?? failure());
    }
  })();
  const stdout = Readable.from(generator, { objectMode: false, highWaterMark: READ_SIZE });
  return {
    stdout,
    done,
    exited,
    abort: () => {
      state.aborted = true;
      tool.kill();
      stdout.destroy();
      // A generator that never started has no finally to run; the directory still has to go once pg_dump is gone.
      void tool.exit.then(() => rm(options.dir, { recursive: true, force: true }).catch(() => undefined));
      settle?.reject(failure());
    },
  };
}

/** Writes one file as a tar member and deletes it; false when the file is not there. */
async function* member(dir: string, name: string): AsyncGenerator<Buffer, boolean> {
  const path = join(dir, name);
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return false;
    throw err;
  }
  try {
    const info = await handle.stat();
    yield fileHeader(name, info.size, info.mtime, 0o644);
    let left = info.size;
    while (left > 0) {
      const buffer = Buffer.allocUnsafe(Math.min(READ_SIZE, left));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0)
        throw new SourceError('dump-failed', `pg_dump's file ${name} shrank while it was read`);
      left -= bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
    yield padding(info.size);
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
    if (first === undefined && /\berror:|\bFATAL\b|\bERROR\b/.test(line))
      first = line.replace(/\s+/g, ' ').trim();
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
