import type { Client } from 'pg';
import { SourceError } from '@tidemark/source-contract';

/** What a physical backup needs to know about the cluster before pg_basebackup starts. */
export interface ClusterFacts {
  systemIdentifier: string;
  walSegmentBytes: number;
  /** The databases one can connect to, for the restore test's row counts. */
  databases: string[];
  estimatedBytes: number;
}

/** The tablespaces pg_basebackup writes as extra tars (all but the two every cluster has). */
const STOCK_TABLESPACES = ['pg_default', 'pg_global'];

/** Reads the cluster's identity and checks that a base backup streamed as one tar can be taken. */
export async function readClusterFacts(client: Client): Promise<ClusterFacts> {
  const one = async <T>(sql: string): Promise<T> => {
    const { rows } = await client.query<T & object>(sql);
    if (!rows[0]) throw new Error(`the server answered nothing to: ${sql}`);
    return rows[0];
  };
  const { wal_level: walLevel } = await one<{ wal_level: string }>('SHOW wal_level');
  if (walLevel !== 'replica' && walLevel !== 'logical')
    throw new SourceError(
      'invalid-settings',
      `wal_level is ${walLevel}: a base backup needs wal_level = replica (or logical) in postgresql.conf`,
    );
  const role = await one<{ rolname: string; allowed: boolean }>(
    'SELECT rolname, rolreplication OR rolsuper AS allowed FROM pg_catalog.pg_roles WHERE rolname = current_user',
  );
  if (!role.allowed)
    throw new SourceError(
      'source-auth',
      `role "${role.rolname}" may not take base backups: grant it with ALTER ROLE "${role.rolname}" REPLICATION`,
    );
  const { rows: spaces } = await client.query<{ spcname: string }>(
    'SELECT spcname FROM pg_catalog.pg_tablespace WHERE spcname <> ALL($1) ORDER BY spcname',
    [STOCK_TABLESPACES],
  );
  const extra = spaces[0]?.spcname;
  if (extra !== undefined)
    throw new SourceError(
      'invalid-settings',
      `tablespace ${extra} is not supported: Tidemark's physical backups stream one tar to stdout, which pg_basebackup allows only without extra tablespaces`,
    );
  const control = await one<{ id: string }>(
    'SELECT system_identifier::text AS id FROM pg_catalog.pg_control_system()',
  );
  const segment = await one<{ bytes: string }>(
    "SELECT setting::bigint * CASE unit WHEN 'B' THEN 1 WHEN 'MB' THEN 1048576 ELSE 8192 END AS bytes FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'",
  );
  const { rows: databases } = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY datname',
  );
  const size = await one<{ bytes: string | null }>(
    "SELECT sum(pg_catalog.pg_database_size(oid))::text AS bytes FROM pg_catalog.pg_database WHERE has_database_privilege(oid, 'CONNECT')",
  );
  return {
    systemIdentifier: control.id,
    walSegmentBytes: Number(segment.bytes),
    databases: databases.map((row) => row.datname),
    estimatedBytes: Number(size.bytes ?? 0),
  };
}
