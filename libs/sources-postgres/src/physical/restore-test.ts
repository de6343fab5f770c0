import type { Client } from 'pg';
import type { Check } from '@tidemark/manifest';
import type { WalSupply } from '@tidemark/source-contract';
import {
  DEFAULT_SEGMENT_BYTES,
  historyFileName,
  parseLsn,
  segmentFileName,
  segmentOf,
  type PhysicalBackup,
} from '@tidemark/wal';
import { countRows, listTables, quoteIdent } from '../counts';
import {
  freeLocalPort,
  placeWal,
  RecoveryFailed,
  startRecoveredServer,
  writeRecoverySettings,
  type RecoveredServer,
  type WalToPlace,
} from './recovery';

export interface RecoveryCheckOptions {
  dataDir: string;
  runDir: string;
  wal: WalSupply;
  /** A role of the backed-up cluster for the first connection (the target's own user). */
  role: string;
  binDir: string | undefined;
  env: NodeJS.ProcessEnv;
}

/**
 * The archived files a base backup needs to reach consistency: its timeline's history file (above 1), then every
 * segment from the one holding the start LSN to the one holding the stop LSN's last byte.
 */
export function backupWalFiles(backup: PhysicalBackup): WalToPlace[] {
  const bytes = backup.walSegmentBytes || DEFAULT_SEGMENT_BYTES;
  const { timeline } = backup;
  const first = segmentOf(parseLsn(backup.startLsn), timeline, bytes).segno;
  const stop = parseLsn(backup.stopLsn);
  const last = segmentOf(stop > 0n ? stop - 1n : 0n, timeline, bytes).segno;
  const files: WalToPlace[] =
    timeline > 1 ? [{ timeline, file: historyFileName(timeline), kind: 'history' }] : [];
  for (let segno = first; segno <= last; segno++)
    files.push({ timeline, file: segmentFileName({ timeline, segno }, bytes), kind: 'segment' });
  return files;
}

/**
 * Replays the backup's own WAL range onto the unpacked base backup (recovery target `immediate`), starts it and
 * checks it: recovery ended consistent, every database the backup recorded connects, every table of each can be
 * counted (the counts are recorded; a base backup has none to compare with). A 'wal-missing' rejection of the
 * supply propagates (the archive may not hold the stop segment yet); a recovery the server gave up on is a failed
 * check. The server is always stopped.
 */
export async function recoverAndCheck(
  backup: PhysicalBackup,
  options: RecoveryCheckOptions,
): Promise<Check[]> {
  const { dataDir, binDir, env } = options;
  await placeWal(dataDir, backupWalFiles(backup), options.wal);
  await writeRecoverySettings(dataDir, {
    target: { type: 'immediate' },
    timeline: backup.timeline,
    binDir,
    env,
  });
  let server: RecoveredServer;
  try {
    server = await startRecoveredServer(dataDir, {
      port: await freeLocalPort(),
      runDir: options.runDir,
      role: options.role,
      // A scratch copy needs little memory, whatever the source is tuned to.
      settings: { shared_buffers: '128MB', max_parallel_workers_per_gather: '0' },
      binDir,
      env,
    });
  } catch (err) {
    if (err instanceof RecoveryFailed) return [{ name: 'recovery', ok: false, detail: err.message }];
    throw err;
  }
  try {
    const checks: Check[] = [
      { name: 'recovery', ok: true, detail: `consistent at the backup's end (${backup.stopLsn})` },
    ];
    for (const database of backup.databases) checks.push(...(await checkDatabase(server, database)));
    return checks;
  } finally {
    await server.stop();
  }
}

/** `database <name> connects`, then one check per table with its row count. */
async function checkDatabase(server: RecoveredServer, database: string): Promise<Check[]> {
  let client: Client;
  try {
    client = await server.connect(database);
  } catch (err) {
    return [{ name: `database ${database} connects`, ok: false, detail: (err as Error).message }];
  }
  try {
    await client.query('SET statement_timeout = 0; SET row_security = off');
    const checks: Check[] = [{ name: `database ${database} connects`, ok: true }];
    for (const count of await countEachTable(client))
      checks.push({ name: `rows ${database}.${count.schema}.${count.name}`, ...count.result });
    return checks;
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface TableResult {
  schema: string;
  name: string;
  result: Pick<Check, 'ok' | 'actual' | 'detail'>;
}

/** Batched counts; when a batch fails (a damaged page), each table on its own, so the check names the table. */
async function countEachTable(client: Client): Promise<TableResult[]> {
  try {
    return (await countRows(client)).map((t) => ({
      schema: t.schema,
      name: t.name,
      result: { ok: true, actual: t.rows },
    }));
  } catch {
    const results: TableResult[] = [];
    for (const table of await listTables(client)) {
      const sql = `SELECT count(*)::text AS n FROM ${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
      try {
        const { rows } = await client.query<{ n: string }>(sql);
        results.push({ ...table, result: { ok: true, actual: Number(rows[0]?.n ?? 0) } });
      } catch (err) {
        results.push({ ...table, result: { ok: false, detail: (err as Error).message } });
      }
    }
    return results;
  }
}
