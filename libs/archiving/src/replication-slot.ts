import { formatLsn, type Lsn, parseLsn, type Timeline } from '@tidemark/wal';
import { Client } from 'pg';
import type { ReplicationTarget } from './connection';

/** `tidemark_<targetId>` with `-` as `_`: slot names allow only lower-case letters, digits and underscores. */
export function slotName(targetId: string): string {
  return `tidemark_${targetId.replace(/-/g, '_')}`;
}

export interface SlotState {
  restartLsn: Lsn | null;
}

/** A normal (non-replication) connection to the target for the slot's SQL. */
export class ReplicationSlot {
  constructor(
    private readonly target: ReplicationTarget,
    readonly name: string,
  ) {}

  private async withClient<T>(use: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({
      host: this.target.host,
      port: this.target.port,
      user: this.target.user,
      database: this.target.database,
      connectionTimeoutMillis: 10_000,
      application_name: 'tidemark-archiver',
      ...(this.target.password ? { password: this.target.password } : {}),
    });
    // A dropped connection also rejects the pending query; unheard, the 'error' event would end the process.
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end();
    }
  }

  /** Creates the slot, reserving WAL at once, unless it exists; true when it was created. */
  ensure(): Promise<boolean> {
    return this.withClient(async (client) => {
      const found = await client.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [
        this.name,
      ]);
      if (found.rowCount) return false;
      await client.query('SELECT pg_create_physical_replication_slot($1, true)', [this.name]);
      return true;
    });
  }

  restartLsn(): Promise<Lsn | null> {
    return this.withClient(async (client) => {
      const rows = await client.query<{ restart_lsn: string | null }>(
        'SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
        [this.name],
      );
      const value = rows.rows[0]?.restart_lsn;
      return value ? parseLsn(value) : null;
    });
  }

  /**
   * Ends the WAL streams of other receivers of this target, named `prefix…` but not `mine`. An archiver killed on
   * its own (SIGKILL of the Node process on a VM; a pod's death takes the whole group) leaves its pg_receivewal
   * running: it holds one of the server's max_wal_senders for as long as the server runs, and writes into a
   * directory nobody ships. It runs with -n, so a terminated stream ends it. Only the lease holder calls this, so
   * no live receiver is cut. Returns how many streams were ended.
   */
  endOtherStreams(prefix: string, mine: string): Promise<number> {
    return this.withClient(async (client) => {
      const rows = await client.query<{ ended: string }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::text AS ended
           FROM pg_stat_replication
          WHERE starts_with(application_name, $1) AND application_name <> $2`,
        [prefix, mine],
      );
      return Number(rows.rows[0]?.ended ?? 0);
    });
  }

  /** Moves restart_lsn forward to `lsn`; never backwards (PostgreSQL refuses that, and it would be wrong). */
  advance(lsn: Lsn): Promise<void> {
    return this.withClient(async (client) => {
      const rows = await client.query<{ restart_lsn: string | null }>(
        'SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
        [this.name],
      );
      // A promoted standby has no slot of ours (base backups leave slots out): make it, reserving from now.
      if (rows.rowCount === 0) {
        await client.query('SELECT pg_create_physical_replication_slot($1, true)', [this.name]);
        return;
      }
      const current = rows.rows[0]?.restart_lsn;
      if (current && parseLsn(current) >= lsn) return;
      await client.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [this.name, formatLsn(lsn)]);
    });
  }

  /**
   * Whether the walsender of `applicationName` has written everything the server has flushed: then a shipped
   * partial that nothing was written to since holds all WAL there is, and the archive is current. False on a
   * standby (no flush position there) and when no such walsender is connected.
   */
  caughtUp(applicationName: string): Promise<boolean> {
    return this.withClient(async (client) => {
      const rows = await client.query<{ caught_up: boolean | null }>(
        `SELECT bool_or(write_lsn >= pg_current_wal_flush_lsn()) AS caught_up
           FROM pg_stat_replication WHERE application_name = $1`,
        [applicationName],
      );
      return rows.rows[0]?.caught_up === true;
    });
  }

  /** The server's wal_segment_size in bytes and its current timeline. */
  serverWal(): Promise<{ segmentBytes: number; timeline: Timeline }> {
    return this.withClient(async (client) => {
      const rows = await client.query<{ bytes: string; timeline: number }>(
        `SELECT setting::bigint * (CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN '8kB' THEN 8192
                WHEN 'MB' THEN 1048576 ELSE 1 END) AS bytes,
                ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline
           FROM pg_settings WHERE name = 'wal_segment_size'`,
      );
      const row = rows.rows[0];
      if (!row) throw new Error('the server reports no wal_segment_size');
      return { segmentBytes: Number(row.bytes), timeline: row.timeline };
    });
  }
}
