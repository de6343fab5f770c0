// Test fixture: a stand-in for TimescaleDB (not installed here), written into the server's extension directory.
// It has what Tidemark touches: timescaledb_information.hypertables over a catalog table that pg_dump dumps as
// extension configuration, and timescaledb_pre_restore() / timescaledb_post_restore() which, like the real ones,
// switch the database's timescaledb.restoring setting. It is strict where the real one is: a catalog row restored
// outside restoring mode fails. Each call of pre/post writes what it saw to a file outside the database (the
// scratch database is dropped before a test could look), via server-side COPY.
import { constants } from 'node:fs';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withClient } from './postgres-server';

const MARK = 'tidemark fake timescaledb';
export const FAKE_VERSION = '0.0.0';
const RECORD_PREFIX = '/tmp/tidemark-fake-timescaledb.';

const CONTROL = `# ${MARK}: a test fixture, not TimescaleDB
comment = '${MARK}'
default_version = '${FAKE_VERSION}'
relocatable = false
`;

const SCRIPT = `-- ${MARK}
CREATE SCHEMA _timescaledb_catalog;
CREATE TABLE _timescaledb_catalog.hypertable (
  schema_name name NOT NULL, table_name name NOT NULL, PRIMARY KEY (schema_name, table_name));
SELECT pg_catalog.pg_extension_config_dump('_timescaledb_catalog.hypertable', '');
CREATE SCHEMA timescaledb_information;
CREATE VIEW timescaledb_information.hypertables AS
  SELECT schema_name AS hypertable_schema, table_name AS hypertable_name FROM _timescaledb_catalog.hypertable;

CREATE FUNCTION _timescaledb_catalog.guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('timescaledb.restoring', true) IS DISTINCT FROM 'on'
     AND current_setting('tidemark_fake.creating', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'fake timescaledb: catalog row for %.% restored without timescaledb_pre_restore()',
      NEW.schema_name, NEW.table_name;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER guard BEFORE INSERT ON _timescaledb_catalog.hypertable
  FOR EACH ROW EXECUTE FUNCTION _timescaledb_catalog.guard();

CREATE FUNCTION @extschema@.create_hypertable(relation regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('tidemark_fake.creating', 'on', true);
  INSERT INTO _timescaledb_catalog.hypertable
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = relation;
  PERFORM set_config('tidemark_fake.creating', 'off', true);
END $$;

CREATE FUNCTION _timescaledb_catalog.record(event text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  counts jsonb := '{}';
  r record;
  n bigint;
BEGIN
  FOR r IN SELECT schema_name, table_name FROM _timescaledb_catalog.hypertable ORDER BY 1, 2 LOOP
    EXECUTE format('SELECT count(*) FROM %I.%I', r.schema_name, r.table_name) INTO n;
    counts := counts || jsonb_build_object(r.schema_name || '.' || r.table_name, n);
  END LOOP;
  EXECUTE format('COPY (SELECT %L) TO %L',
    jsonb_build_object(
      'event', event,
      'at', clock_timestamp(),
      'restoring', current_setting('timescaledb.restoring', true),
      'userTables', (SELECT count(*) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                     WHERE c.relkind = 'r' AND s.nspname NOT IN ('pg_catalog', 'information_schema', '_timescaledb_catalog')
                       AND s.nspname NOT LIKE 'pg\\_%'),
      'hypertables', counts)::text,
    '${RECORD_PREFIX}' || current_database() || '.' || event || '.json');
END $$;

CREATE FUNCTION @extschema@.timescaledb_pre_restore() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET timescaledb.restoring = %L', current_database(), 'on');
  PERFORM set_config('timescaledb.restoring', 'on', false);
  PERFORM _timescaledb_catalog.record('pre');
  RETURN true;
END $$;

CREATE FUNCTION @extschema@.timescaledb_post_restore() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER DATABASE %I RESET timescaledb.restoring', current_database());
  PERFORM set_config('timescaledb.restoring', 'off', false);
  PERFORM _timescaledb_catalog.record('post');
  RETURN true;
END $$;
`;

export interface FakeTimescale {
  /** Why the fake cannot be used (tests skip with this), or undefined when it is installed. */
  unavailable?: string;
  remove(): Promise<void>;
}

/** What a pre/post call saw, as written by the fake. */
export interface RestoreRecord {
  event: 'pre' | 'post';
  at: string;
  restoring: string | null;
  userTables: number;
  hypertables: Record<string, number>;
}

export async function readRecord(
  database: string,
  event: 'pre' | 'post',
): Promise<RestoreRecord | undefined> {
  try {
    return JSON.parse(await readFile(`${RECORD_PREFIX}${database}.${event}.json`, 'utf8')) as RestoreRecord;
  } catch {
    return undefined;
  }
}

export async function removeRecords(databases: string[]): Promise<void> {
  for (const database of databases)
    for (const event of ['pre', 'post'])
      await rm(`${RECORD_PREFIX}${database}.${event}.json`, { force: true });
}

/** Installs the fake unless a real TimescaleDB is there; `remove` takes out only what this call wrote. */
export async function installFakeTimescale(): Promise<FakeTimescale> {
  const sharedir = await withClient('postgres', async (c) => {
    const { rows } = await c.query<{ setting: string }>(
      "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'",
    );
    return rows[0]?.setting ?? '';
  });
  const dir = join(sharedir, 'extension');
  const control = join(dir, 'timescaledb.control');
  const script = join(dir, `timescaledb--${FAKE_VERSION}.sql`);
  const existing = await readFile(control, 'utf8').catch(() => undefined);
  if (existing !== undefined && !existing.includes(MARK))
    return {
      unavailable: `a real TimescaleDB is installed in ${dir}; the fake-based tests do not run against it`,
      remove: () => Promise.resolve(),
    };
  try {
    await access(dir, constants.W_OK);
  } catch {
    return {
      unavailable: `${dir} is not writable: cannot install the fake TimescaleDB`,
      remove: () => Promise.resolve(),
    };
  }
  await writeFile(script, SCRIPT);
  await writeFile(control, CONTROL);
  const wrote = existing === undefined;
  return {
    remove: async () => {
      if (!wrote) return;
      await rm(control, { force: true });
      await rm(script, { force: true });
    },
  };
}
