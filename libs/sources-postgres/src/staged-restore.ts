import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'pg';
import { busyError, errorCode, restoreInProgressError } from '@tidemark/source-contract';
import type { PgContext } from './context';
import { quoteIdent } from './counts';
import type { ServerVersion } from './server';

const MAX_IDENTIFIER_BYTES = 63;
/** A restore is built under this name and renamed into place only once it is complete. */
export const RESTORE_STAGING_PREFIX = 'tidemark_restore_';
/** With `--clean`, the database being replaced waits under this name until the new one is in place. */
export const RESTORE_REPLACED_PREFIX = 'tidemark_replaced_';
const OBJECT_IN_USE = '55006';
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * `<prefix><database>`, or, when that would pass PostgreSQL's 63-byte limit (which silently truncates, so two
 * targets could share a name), a shortened database name plus a hash of the whole one.
 */
export function stagingName(prefix: string, database: string): string {
  const whole = `${prefix}${database}`;
  if (Buffer.byteLength(whole) <= MAX_IDENTIFIER_BYTES) return whole;
  const hash = createHash('sha256').update(database).digest('hex').slice(0, 8);
  let head = database;
  while (Buffer.byteLength(`${prefix}${head}_${hash}`) > MAX_IDENTIFIER_BYTES) head = head.slice(0, -1);
  return `${prefix}${head}_${hash}`;
}

/** What a new database must copy from the one it replaces so that it behaves the same. */
export interface DatabaseShape {
  owner: string;
  encoding: string;
  collate: string;
  ctype: string;
  /** `ALTER DATABASE … SET` settings for every role (`name=value`). */
  settings: string[];
}

export async function databaseShape(admin: Client, database: string): Promise<DatabaseShape | undefined> {
  const { rows } = await admin.query<DatabaseShape>(
    `SELECT pg_catalog.pg_get_userbyid(d.datdba) AS owner, pg_catalog.pg_encoding_to_char(d.encoding) AS encoding,
            d.datcollate AS collate, d.datctype AS ctype,
            coalesce((SELECT s.setconfig FROM pg_catalog.pg_db_role_setting s
                      WHERE s.setdatabase = d.oid AND s.setrole = 0), '{}') AS settings
     FROM pg_catalog.pg_database d WHERE d.datname = $1`,
    [database],
  );
  return rows[0];
}

/** Sessions other than ours connected to `database`. */
export async function otherSessions(admin: Client, database: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
    [database],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Removes what an interrupted restore of `database` left behind (its staging copy, a replaced database not yet
 * dropped). Never forced: a staging database still in use belongs to a restore that is running right now.
 */
export async function removeLeftovers(ctx: PgContext, admin: Client, database: string): Promise<void> {
  for (const name of [
    stagingName(RESTORE_STAGING_PREFIX, database),
    stagingName(RESTORE_REPLACED_PREFIX, database),
  ]) {
    await ctx.query('restore-failed', () => dropUnused(admin, name, database), {
      prefix: `cannot remove "${name}" left by an earlier restore`,
    });
  }
}

async function dropUnused(admin: Client, name: string, database: string): Promise<void> {
  // A killed restore's pg_restore may take a moment to notice its input is gone and disconnect.
  for (let attempt = 1; !(await dropIfUnused(admin, name)); attempt++) {
    if (attempt >= 5) throw restoreInProgressError(database, name);
    await sleep(500 * attempt);
  }
}

/** Drops `name` unless a session is connected to it; says whether it is gone. */
export async function dropIfUnused(admin: Client, name: string): Promise<boolean> {
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
    return true;
  } catch (err) {
    if (errorCode(err) === OBJECT_IN_USE) return false;
    throw err;
  }
}

/** Creates the staging database shaped like the one it will replace (owner when allowed, encoding, locale, settings). */
export async function createStaging(
  ctx: PgContext,
  admin: Client,
  staging: string,
  shape: DatabaseShape | undefined,
): Promise<void> {
  const base = `CREATE DATABASE ${quoteIdent(staging)} TEMPLATE template0`;
  const prefix = `cannot create staging database "${staging}"`;
  if (!shape) {
    await ctx.query('restore-failed', () => admin.query(base), { prefix });
    return;
  }
  const locale = ` ENCODING ${literal(shape.encoding)} LC_COLLATE ${literal(shape.collate)} LC_CTYPE ${literal(shape.ctype)}`;
  await ctx.query(
    'restore-failed',
    async () => {
      try {
        await admin.query(`${base}${locale} OWNER ${quoteIdent(shape.owner)}`);
      } catch (err) {
        // Only a superuser or a member of the owner's role may give the database to it; then it stays ours.
        if (errorCode(err) !== INSUFFICIENT_PRIVILEGE) throw err;
        await admin.query(`${base}${locale}`);
      }
      for (const setting of shape.settings) {
        const eq = setting.indexOf('=');
        await admin.query(
          `ALTER DATABASE ${quoteIdent(staging)} SET ${quoteIdent(setting.slice(0, eq))} TO ${literal(setting.slice(eq + 1))}`,
        );
      }
    },
    { prefix },
  );
}

/**
 * Puts the complete staging database in the place of `database` in one transaction (both renames or neither),
 * then drops the database it replaced.
 */
export async function swapIntoPlace(
  ctx: PgContext,
  admin: Client,
  staging: string,
  database: string,
  replacing: { server: ServerVersion } | undefined,
): Promise<void> {
  const replaced = stagingName(RESTORE_REPLACED_PREFIX, database);
  await ctx.query(
    'restore-failed',
    async () => {
      await admin.query('BEGIN');
      try {
        if (replacing)
          await admin.query(`ALTER DATABASE ${quoteIdent(database)} RENAME TO ${quoteIdent(replaced)}`);
        await admin.query(`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(database)}`);
        await admin.query('COMMIT');
      } catch (err) {
        await admin.query('ROLLBACK').catch(() => undefined);
        if (errorCode(err) === OBJECT_IN_USE) throw busyError(database, await otherSessions(admin, database));
        throw err;
      }
    },
    { prefix: `cannot rename "${staging}" to "${database}"` },
  );
  if (!replacing) return;
  // The new database is in place: a replaced copy that cannot be dropped now is removed by the next restore.
  await ctx.dropDatabase(admin, replaced, replacing.server, 'replaced').catch(() => undefined);
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
