import type * as Sqlite from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type * as Threads from 'node:worker_threads';
import type { TableCount } from '@tidemark/manifest';

/**
 * SQLite calls through node:sqlite are synchronous; integrity_check and count(*) on a large database take
 * seconds to minutes, so they run on a worker thread and the event loop (health checks, job-lock renewal) stays
 * free. The backup itself is node:sqlite's asynchronous online-backup API, started from the same worker.
 */
export type WorkerRequest =
  /** Online backup of `source` into `copy` inside one read transaction, then integrity_check and counts on the copy. */
  | { op: 'snapshot'; source: string; copy: string; pagesPerStep: number; busyTimeoutMs: number }
  /** integrity_check, and (with `counts`) counts when it passes, on a file Tidemark owns (a restored copy). */
  | { op: 'check'; path: string; counts: boolean }
  /** Counts on a live database, read-only, in one read transaction. */
  | { op: 'count'; path: string; busyTimeoutMs: number };

export interface WorkerResult {
  /** What integrity_check reported (at most 20 lines); empty means 'ok'. Absent for `count`. */
  problems?: string[];
  /** Row counts per table; absent when integrity_check found problems. */
  tables?: TableCount[];
  /** Pages copied by `snapshot`. */
  pages?: number;
}

type Reply =
  | { type: 'done'; result: WorkerResult }
  | { type: 'failed'; stage: string; message: string }
  | { type: 'aborted' };

/** A failure inside the worker; `stage` says which step (open, snapshot, copy, check, count). */
export class WorkerFailure extends Error {
  constructor(
    readonly stage: string,
    message: string,
  ) {
    super(message);
  }
}

export interface WorkerJob {
  /** Settles once the worker thread has exited, so its files are closed; 'aborted' after abort(). */
  result: Promise<WorkerResult | 'aborted'>;
  /** Stops a running backup at its next step; a check already under way finishes first. */
  abort(): void;
}

/**
 * Runs in the worker. It is shipped as source text (`eval: true`) so it works the same from TypeScript sources and
 * from a build, which is why it may use only its parameters and globals, never an import of this module.
 */
function workerMain(sqlite: typeof Sqlite, threads: typeof Threads): void {
  const port = threads.parentPort;
  const request = threads.workerData as WorkerRequest;
  let aborted = false;
  let stage = 'open';
  port?.on('message', (message) => {
    if (message === 'abort') aborted = true;
  });
  // Listening for 'abort' must not keep the thread alive once the work is done.
  port?.unref();

  const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;
  const integrity = (db: Sqlite.DatabaseSync): string[] => {
    try {
      const lines = db
        .prepare('PRAGMA integrity_check(20)')
        .all()
        .map((row) => String(Object.values(row)[0]));
      return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
    } catch (err) {
      // Damage can stop the check itself ("database disk image is malformed"): that is its verdict too.
      return [err instanceof Error ? err.message : String(err)];
    }
  };
  const count = (db: Sqlite.DatabaseSync): TableCount[] => {
    // Virtual tables are skipped: their module may be missing, and their shadow tables (counted) hold the data.
    const names = db
      .prepare(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' " +
          "AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name",
      )
      .all()
      .map((row) => String(row.name));
    return names.map((name) => {
      const row = db.prepare(`SELECT count(*) AS n FROM main.${quote(name)}`).get();
      return { schema: 'main', name, rows: Number(row?.n ?? 0) };
    });
  };
  const checkAndCount = (path: string, counts: boolean): WorkerResult => {
    stage = 'check';
    const db = new sqlite.DatabaseSync(path);
    try {
      const problems = integrity(db);
      if (problems.length > 0 || !counts) return { problems };
      stage = 'count';
      return { problems, tables: count(db) };
    } finally {
      db.close();
    }
  };

  const run = async (): Promise<WorkerResult | undefined> => {
    switch (request.op) {
      case 'snapshot': {
        const source = new sqlite.DatabaseSync(request.source, {
          readOnly: true,
          timeout: request.busyTimeoutMs,
        });
        let pages: number;
        try {
          // An open read transaction pins one snapshot: the backup reads inside it instead of restarting whenever
          // another connection commits (WAL writers go on; rollback-journal writers wait for our shared lock).
          stage = 'snapshot';
          source.exec('BEGIN');
          source.prepare('SELECT count(*) FROM main.sqlite_master').get();
          stage = 'copy';
          pages = await sqlite.backup(source, request.copy, {
            rate: request.pagesPerStep,
            progress: () => {
              if (aborted) throw new Error('aborted');
            },
          });
          source.exec('COMMIT');
        } finally {
          source.close();
        }
        // Let a pending 'abort' message in before the (synchronous) check starts.
        await new Promise((resolve) => setImmediate(resolve));
        if (aborted) return undefined;
        return { ...checkAndCount(request.copy, true), pages };
      }
      case 'check':
        return checkAndCount(request.path, request.counts);
      case 'count': {
        const db = new sqlite.DatabaseSync(request.path, { readOnly: true, timeout: request.busyTimeoutMs });
        try {
          stage = 'count';
          db.exec('BEGIN');
          const tables = count(db);
          db.exec('COMMIT');
          return { tables };
        } finally {
          db.close();
        }
      }
    }
  };

  const send = (reply: Reply): void => port?.postMessage(reply);
  run().then(
    (result) => {
      send(result === undefined ? { type: 'aborted' } : { type: 'done', result });
    },
    (err: unknown) => {
      send(
        aborted
          ? { type: 'aborted' }
          : { type: 'failed', stage, message: err instanceof Error ? err.message : String(err) },
      );
    },
  );
}

const SCRIPT = `(${workerMain.toString()})(require('node:sqlite'), require('node:worker_threads'));`;

export function startWorker(request: WorkerRequest): WorkerJob {
  const worker = new Worker(SCRIPT, { eval: true, workerData: request });
  const result = new Promise<WorkerResult | 'aborted'>((resolve, reject) => {
    let reply: Reply | undefined;
    let error: Error | undefined;
    worker.once('message', (message: Reply) => {
      reply = message;
    });
    worker.once('error', (err: Error) => {
      error = err;
    });
    worker.once('exit', (code) => {
      if (reply?.type === 'done') resolve(reply.result);
      else if (reply?.type === 'aborted') resolve('aborted');
      else if (reply?.type === 'failed') reject(new WorkerFailure(reply.stage, reply.message));
      else reject(error ?? new Error(`the SQLite worker thread exited with code ${code} without a result`));
    });
  });
  return {
    result,
    abort: () => {
      worker.postMessage('abort');
    },
  };
}

/** Runs a request that is never aborted and returns its result. */
export async function runWorker(request: WorkerRequest): Promise<WorkerResult> {
  const result = await startWorker(request).result;
  if (result === 'aborted') throw new Error('the SQLite worker was aborted');
  return result;
}
