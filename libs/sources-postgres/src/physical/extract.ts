import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Compression } from '@tidemark/manifest';
import { describeFailure, feedTool, SourceError, startTool } from '@tidemark/source-contract';

/** The compressions GNU tar unpacks itself (through the zstd binary the image carries). */
export const TAR_UNPACKS = ['zstd'] as const satisfies readonly Compression[];

/**
 * Unpacks a tar stream, raw or (`compression`) still compressed, into `dir` (created with mode 700, as PostgreSQL
 * requires of a data directory).
 */
export async function extractTar(
  input: Readable,
  dir: string,
  env: NodeJS.ProcessEnv,
  compression?: Compression,
): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const filter = compression === 'zstd' ? ['--zstd'] : [];
  const tool = startTool('tar', [...filter, '-x', '-f', '-', '-C', dir], env, { stdin: true, stdout: false });
  await feedTool(input, tool);
  const exit = await tool.exit;
  if (exit.code !== 0)
    throw new SourceError('restore-failed', `cannot unpack the base backup: ${describeFailure('tar', exit)}`);
  await chmod(dir, 0o700);
}

/** True when `dir` is missing or an empty directory. */
async function isFree(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/**
 * Unpacks into a sibling staging directory and renames it into place, so a failure leaves nothing at `dir`.
 * `clean` replaces what is there; otherwise a non-empty `dir` is refused. `prepare` completes the staged copy
 * (WAL, recovery settings) before the rename; its failure too leaves nothing at `dir`.
 */
export async function restoreDataDirectory(
  input: Readable,
  dir: string,
  options: {
    clean: boolean;
    env: NodeJS.ProcessEnv;
    compression?: Compression;
    prepare?: (staging: string) => Promise<void>;
  },
): Promise<void> {
  if (!options.clean && !(await isFree(dir))) {
    input.resume();
    throw new SourceError('target-not-empty', `${dir} is not empty (pass --clean to replace it)`);
  }
  const staging = join(dirname(dir), `.${basename(dir)}.tidemark-staging`);
  await rm(staging, { recursive: true, force: true });
  try {
    await extractTar(input, staging, options.env, options.compression);
    await options.prepare?.(staging);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}
