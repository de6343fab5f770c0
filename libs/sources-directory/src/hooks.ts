import { spawn } from 'node:child_process';
import { oneLine, SourceError } from '@tidemark/source-contract';

// Enough for the first line of any real error report; a hook that floods stderr must not grow our memory.
const STDERR_LIMIT = 16 * 1024;

/**
 * Runs a `pre`/`post` hook with /bin/sh in the directory, with TIDEMARK_DIR set; a non-zero exit is 'hook-failed'
 * carrying the first line the command wrote to stderr.
 */
export async function runHook(
  which: 'pre' | 'post',
  command: string,
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: dir,
    env: { ...env, TIDEMARK_DIR: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += text;
  });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => {
        resolve({ code: null, signal: null, error });
      });
      child.once('close', (code, signal) => {
        resolve({ code, signal });
      });
    },
  );
  if (exit.code === 0) return;
  const line = stderr
    .split('\n')
    .map(oneLine)
    .find((text) => text !== '');
  const how = exit.error
    ? `could not be started: ${exit.error.message}`
    : exit.signal
      ? `was killed by ${exit.signal}`
      : `exited with code ${exit.code ?? 'unknown'}`;
  throw new SourceError('hook-failed', `${which} command ${how}${line ? `: ${line}` : ''}`);
}
