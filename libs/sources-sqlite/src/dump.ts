import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupContent, TableCount } from '@tidemark/manifest';
import { type DumpHandle, errorMessage, oneLine, SourceError } from '@tidemark/source-contract';
import { removeDatabaseFiles } from './files';
import { startWorker, WorkerFailure, type WorkerJob } from './sqlite-worker';

export interface SnapshotSettings {
  /** Pages per backup step; abort is noticed between steps. */
  pagesPerStep: number;
  /** How long to wait for a writer's lock before the snapshot fails with "database is locked". */
  busyTimeoutMs: number;
}

/**
 * Copies the live database with SQLite's online backup into a private file under `workDir`, checks and counts
 * the copy, then streams it. The copy is removed once it has been read, on failure, and on abort.
 */
export function dumpSqlite(
  path: string,
  workDir: string,
  backupId: string,
  settings: SnapshotSettings,
): DumpHandle {
  const copy = join(workDir, `${backupId}-${randomBytes(4).toString('hex')}.sqlite-copy`);
  const stdout = new PassThrough();
  const state: { aborted: boolean; job?: WorkerJob } = { aborted: false };
  // A function, not the field itself: abort() flips it while this code awaits.
  const isAborted = (): boolean => state.aborted;
  const aborted = (): SourceError => new SourceError('dump-failed', `the copy of ${path} was aborted`);
  let settleTables: { resolve: (tables: TableCount[]) => void; reject: (err: unknown) => void } | undefined;
  const tables = new Promise<TableCount[]>((resolve, reject) => {
    settleTables = { resolve, reject };
  });

  const takeCopy = async (): Promise<TableCount[]> => {
    // Created by us with 0600 first: the backup then writes into it, and SQLite gives any companions the same mode.
    try {
      await writeFile(copy, '', { flag: 'wx', mode: 0o600 });
    } catch (err) {
      throw new SourceError(
        'dump-failed',
        `cannot create the copy of ${path} in ${workDir}: ${errorMessage(err)}`,
      );
    }
    if (isAborted()) throw aborted();
    state.job = startWorker({ op: 'snapshot', source: path, copy, ...settings });
    let result;
    try {
      result = await state.job.result;
    } catch (err) {
      throw copyError(err, path);
    }
    if (result === 'aborted' || isAborted()) throw aborted();
    const problem = result.problems?.[0];
    if (problem !== undefined || !result.tables) {
      throw new SourceError(
        'dump-failed',
        `the copy of ${path} fails integrity_check: ${oneLine(problem ?? 'no result')}`,
      );
    }
    return result.tables;
  };

  const finished = (async () => {
    try {
      settleTables?.resolve(await takeCopy());
      await pipeline(createReadStream(copy), stdout);
    } catch (err) {
      const error = isAborted()
        ? aborted()
        : err instanceof SourceError
          ? err
          : new SourceError('dump-failed', `streaming the copy of ${path} failed: ${errorMessage(err)}`);
      settleTables?.reject(error);
      stdout.destroy(error);
      throw error;
    } finally {
      await removeDatabaseFiles(copy);
    }
  })();
  // Callers that abort may never await these; that must not become an unhandled rejection.
  finished.catch(() => undefined);
  const content = tables.then((counted): BackupContent => ({ tables: counted }));
  content.catch(() => undefined);

  return {
    stdout,
    content,
    finished,
    abort: () => {
      if (state.aborted) return;
      state.aborted = true;
      state.job?.abort();
      stdout.destroy();
    },
  };
}

function copyError(err: unknown, path: string): SourceError {
  if (err instanceof WorkerFailure) {
    const what =
      err.stage === 'check' || err.stage === 'count'
        ? `cannot check the copy of ${path}`
        : `cannot copy SQLite database ${path}`;
    return new SourceError('dump-failed', `${what}: ${oneLine(err.message)}`);
  }
  return new SourceError('dump-failed', `cannot copy SQLite database ${path}: ${errorMessage(err)}`);
}
