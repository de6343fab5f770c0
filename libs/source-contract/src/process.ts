import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { oneLine } from './errors';

export interface ToolExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Set when the process could not be started at all. */
  spawnError?: Error;
}

export interface RunningTool {
  readonly child: ChildProcess;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly exit: Promise<ToolExit>;
  kill(): void;
}

// Enough for any real error report; a tool that floods stderr must not grow our memory.
const STDERR_LIMIT = 64 * 1024;

const ignore = (): void => undefined;

/** Whether `path` is a regular file we may execute: a tool found on a search path. */
export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Starts a tool with stderr captured; connection parameters travel only in `env`, never in `args`. */
export function startTool(
  path: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdio: { stdin: boolean; stdout: boolean },
): RunningTool {
  const child = spawn(path, args, {
    env,
    stdio: [stdio.stdin ? 'pipe' : 'ignore', stdio.stdout ? 'pipe' : 'ignore', 'pipe'],
  });
  // A tool that exits before reading all its input makes our writes fail with EPIPE; its exit status tells the story.
  child.stdin?.on('error', ignore);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += text;
  });
  const exit = new Promise<ToolExit>((resolve) => {
    child.once('error', (spawnError) => {
      resolve({ code: null, signal: null, stderr, spawnError });
    });
    child.once('close', (code, signal) => {
      resolve({ code, signal, stderr });
    });
  });
  return {
    child,
    stdin: child.stdin,
    stdout: child.stdout,
    exit,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // Unread output would keep 'close' from firing.
      child.stdout?.destroy();
    },
  };
}

/**
 * Writes `input` into `sink` with backpressure and reads `input` to its end even after the sink has gone
 * (the tool exited early), discarding the rest. Rejects only when `input` itself fails.
 */
export async function feed(input: Readable, sink: Writable): Promise<void> {
  let open = !sink.destroyed && !sink.writableEnded;
  const closed = (): void => {
    open = false;
  };
  sink.on('error', closed);
  sink.on('close', closed);
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      if (open && !sink.write(chunk)) await drained(sink);
    }
  } catch (err) {
    // Never hand the tool a silently truncated stream as if it were complete.
    sink.destroy();
    throw err;
  }
  if (open) sink.end();
}

/** A writable that says when it takes more: a Node stream, or a streamx one (tar-stream's). */
export interface Drainable {
  readonly destroyed: boolean;
  on(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
  off(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
}

/** Waits until `sink` wants more, or has gone (closed or failed: the caller's next check stops it). */
export function drained(sink: Drainable): Promise<void> {
  if (sink.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      sink.off('drain', done);
      sink.off('close', done);
      sink.off('error', done);
      resolve();
    };
    sink.on('drain', done);
    sink.on('close', done);
    sink.on('error', done);
  });
}

/** Feeds the whole input to the tool's stdin; if the input itself fails, the tool is stopped and the input's error thrown. */
export async function feedTool(input: Readable, tool: RunningTool): Promise<void> {
  if (!tool.stdin) throw new Error(`${tool.child.spawnfile} was started without a stdin pipe`);
  try {
    await feed(input, tool.stdin);
  } catch (err) {
    tool.kill();
    await tool.exit;
    throw err;
  }
}

/** Counts the lines of a text stream that satisfy `keep`, without holding the stream in memory. */
export async function countLines(stream: Readable, keep: (line: string) => boolean): Promise<number> {
  let count = 0;
  let carry = '';
  stream.setEncoding('utf8');
  for await (const text of stream as AsyncIterable<string>) {
    const lines = (carry + text).split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) if (keep(line)) count++;
  }
  if (keep(carry)) count++;
  return count;
}

/** The line of a tool's stderr that explains a failure, collapsed to one line. */
export function firstMeaningfulLine(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map(oneLine)
    .filter((line) => line.length > 0);
  return lines.find((line) => /\berror:|\bFATAL\b|\bERROR\b/.test(line)) ?? lines[0];
}

/** One line describing how a tool ended, for error messages and check details. */
export function describeFailure(tool: string, exit: ToolExit): string {
  if (exit.spawnError) return `cannot run ${tool}: ${exit.spawnError.message}`;
  const line = firstMeaningfulLine(exit.stderr);
  if (line) return line;
  return exit.signal
    ? `${tool} was killed by ${exit.signal}`
    : `${tool} exited with code ${exit.code ?? 'unknown'}`;
}
