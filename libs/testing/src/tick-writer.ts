import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { ScratchCluster } from './scratch-cluster';

/** One committed row of the `ticks` table. */
export interface Tick {
  id: number;
  /** The commit's own timestamp (track_commit_timestamp), the one recovery_target_time compares with. */
  committedAt: Date;
  /** The WAL insert position right after the commit (before the next). */
  lsn: string;
}

/**
 * The point-in-time recovery specs' writer: commits one row at a time into `ticks` on a scratch cluster started
 * with `track_commit_timestamp = on`, remembering each commit's time, so a restored copy can be compared with
 * exactly the rows committed up to a target.
 */
export class TickWriter {
  readonly ticks: Tick[] = [];

  constructor(private readonly cluster: ScratchCluster) {}

  async createTable(): Promise<void> {
    await this.cluster.query('CREATE TABLE ticks (id serial PRIMARY KEY, at timestamptz NOT NULL)');
  }

  /** `count` commits, `pauseMs` apart, closing the WAL segment after every `switchEvery`. */
  async write(count: number, switchEvery = Number.POSITIVE_INFINITY, pauseMs = 40): Promise<void> {
    for (let n = 1; n <= count; n++) {
      const [row] = await this.cluster.query<{ id: number }>(
        'INSERT INTO ticks (at) VALUES (clock_timestamp()) RETURNING id',
      );
      const [ts] = await this.cluster.query<{ committed: Date }>(
        `SELECT pg_xact_commit_timestamp(xmin) AS committed FROM ticks WHERE id = ${String(row?.id)}`,
      );
      const [position] = await this.cluster.query<{ lsn: string }>(
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      );
      this.ticks.push({ id: Number(row?.id), committedAt: ts?.committed as Date, lsn: position?.lsn ?? '' });
      if (n % switchEvery === 0) await this.cluster.query('SELECT pg_switch_wal()');
      await sleep(pauseMs);
    }
  }

  /** The ids committed at or before `at`. */
  committedBy(at: Date): number[] {
    return this.ticks.filter((t) => t.committedAt.getTime() <= at.getTime()).map((t) => t.id);
  }

  /** The ids a restored server on `port` (trust for postgres on loopback) holds. */
  static async rowsOn(port: number): Promise<number[]> {
    const client = new Client({ connectionString: `postgres://postgres@127.0.0.1:${String(port)}/postgres` });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: number }>('SELECT id FROM ticks ORDER BY id');
      return rows.map((row) => row.id);
    } finally {
      await client.end();
    }
  }
}
