import { createHash } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { quoteIdent } from './connection';

const MAX_IDENTIFIER = 64;
/** A restore is built in a database of this name and moved into place only once it is complete. */
export const RESTORE_STAGING_PREFIX = 'tidemark_restore_';
/** With `--clean`, the objects being replaced wait here until the new ones are in place. */
export const RESTORE_REPLACED_PREFIX = 'tidemark_replaced_';

export function stagingName(prefix: string, database: string): string {
  const whole = `${prefix}${database}`;
  if (whole.length <= MAX_IDENTIFIER) return whole;
  const hash = createHash('sha256').update(database).digest('hex').slice(0, 8);
  return `${prefix}${database.slice(0, MAX_IDENTIFIER - prefix.length - 9)}_${hash}`;
}

/** A statement that re-creates an object which RENAME TABLE cannot carry to another database. */
interface Recreate {
  kind: 'VIEW' | 'TRIGGER' | 'PROCEDURE' | 'FUNCTION' | 'EVENT';
  name: string;
  sqlMode: string;
  create: string;
}

// What SHOW CREATE answers, per kind: the column holding the statement.
const CREATE_COLUMN: Record<Recreate['kind'], string> = {
  VIEW: 'Create View',
  TRIGGER: 'SQL Original Statement',
  PROCEDURE: 'Create Procedure',
  FUNCTION: 'Create Function',
  EVENT: 'Create Event',
};

/**
 * Moves every object of `from` into the existing, empty database `to`: all tables (and sequences) in one
 * RENAME TABLE statement, which the server applies atomically; views, triggers, routines and events, which
 * cannot move between databases, are re-created in `to` from their own definitions. `from` is dropped after.
 */
export async function moveDatabase(admin: Connection, from: string, to: string): Promise<void> {
  const objects = await definitions(admin, from);
  for (const object of objects.filter((o) => o.kind === 'TRIGGER' || o.kind === 'VIEW'))
    await admin.query(`DROP ${object.kind} ${quoteIdent(from)}.${quoteIdent(object.name)}`);
  const [tables] = await admin.query<RowDataPacket[]>(
    `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW'`,
    [from],
  );
  const pairs = tables.map((row) => {
    const name = quoteIdent(String(row['name']));
    return `${quoteIdent(from)}.${name} TO ${quoteIdent(to)}.${name}`;
  });
  if (pairs.length > 0) await admin.query(`RENAME TABLE ${pairs.join(', ')}`);
  await admin.query(`USE ${quoteIdent(to)}`);
  await createViews(
    admin,
    objects.filter((o) => o.kind === 'VIEW'),
    from,
    to,
  );
  for (const object of objects.filter((o) => o.kind !== 'VIEW')) await recreate(admin, object, from, to);
  await admin.query(`DROP DATABASE ${quoteIdent(from)}`);
}

async function definitions(admin: Connection, database: string): Promise<Recreate[]> {
  const [rows] = await admin.query<RowDataPacket[]>(
    `SELECT 'VIEW' AS kind, TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
     UNION ALL SELECT 'TRIGGER', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
     UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
     UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`,
    [database, database, database, database],
  );
  const found: Recreate[] = [];
  for (const row of rows) {
    const kind = String(row['kind']) as Recreate['kind'];
    const name = String(row['name']);
    const [shown] = await admin.query<RowDataPacket[]>(
      `SHOW CREATE ${kind} ${quoteIdent(database)}.${quoteIdent(name)}`,
    );
    const first: RowDataPacket = shown[0] ?? ({} as RowDataPacket);
    found.push({
      kind,
      name,
      sqlMode: String(first['sql_mode'] ?? ''),
      create: String(first[CREATE_COLUMN[kind]] ?? ''),
    });
  }
  return found;
}

/** Views may be built on views: each round creates those whose dependencies exist, until none is left. */
async function createViews(admin: Connection, views: Recreate[], from: string, to: string): Promise<void> {
  let pending = views;
  while (pending.length > 0) {
    const failed: { view: Recreate; error: unknown }[] = [];
    for (const view of pending) {
      await recreate(admin, view, from, to).catch((error: unknown) => failed.push({ view, error }));
    }
    if (failed.length === pending.length) throw failed[0]?.error;
    pending = failed.map((f) => f.view);
  }
}

async function recreate(admin: Connection, object: Recreate, from: string, to: string): Promise<void> {
  // SHOW CREATE VIEW names the database it was read from; the copy must refer to its new home.
  const create = object.create.replaceAll(`${quoteIdent(from)}.`, `${quoteIdent(to)}.`);
  await admin.query('SET SESSION sql_mode = ?', [object.sqlMode]);
  await admin.query(create);
}
