import { Readable } from 'node:stream';
import type { BackupContent, Check, TableCount } from '@tidemark/manifest';
import type { Client } from 'pg';
import {
  restoreTestResult,
  describeFailure,
  type DumpHandle,
  feedTool,
  oneLine,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  SourceError,
  type SourceInfo,
  type SourceOptions,
  startTool,
  type StreamSource,
  type StructureCheckResult,
} from '@tidemark/source-contract';
import { address, parsePostgresUrl } from './connection';
import { PgContext } from './context';
import { namesDatabase, withDatabase } from './databases';
import { GLOBALS_TRAILER, isTolerated, scanGlobals } from './globals-sql';
import { serverVersion } from './server';

/** What the manifest records as the database of a globals backup (no database is dumped). */
export const GLOBALS_DATABASE = '(globals)';
/** content.tables rows that stand for roles: `{ schema: 'role', name: <role>, rows: 0 }`. */
export const ROLE_SCHEMA = 'role';
const SCAN_TOOL = 'tidemark globals scan';

/**
 * The cluster's roles and tablespaces (`pg_dumpall --globals-only`) as an SQL script. Roles are cluster-wide, so
 * the restore test cannot restore them into a scratch copy: it checks that the script creates every role the
 * cluster had throughout the dump, and that the script is complete.
 */
export class PostgresGlobalsSource implements StreamSource {
  readonly kind = 'postgres';
  readonly incremental = false;
  readonly format = 'pg_dumpall-globals' as const;
  private readonly ctx: PgContext;
  /** The database pg_dumpall connects to when the URL names one; otherwise pg_dumpall's postgres/template1. */
  private readonly connectTo: string | undefined;

  constructor(url: string, options: SourceOptions = {}) {
    const env = options.env ?? process.env;
    this.connectTo = namesDatabase(url) ? parsePostgresUrl(url, env).database : undefined;
    this.ctx = new PgContext(
      parsePostgresUrl(this.connectTo ? url : withDatabase(url, 'postgres'), env),
      options,
    );
  }

  async preCheck(): Promise<SourceInfo> {
    const client = await this.open();
    try {
      const server = await this.ctx.query('source-unreachable', () => serverVersion(client));
      const tool = await this.ctx.dumpTool('pg_dumpall', server);
      const roles = await this.ctx.query('source-unreachable', () => listRoles(client));
      return {
        kind: this.kind,
        database: GLOBALS_DATABASE,
        host: address(this.ctx.target),
        serverVersion: server.version,
        serverMajor: server.major,
        dumpTool: tool.label,
        // A role takes a few hundred bytes of SQL; the estimate only sizes the disk check.
        estimatedBytes: 4096 + roles.length * 512,
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async dump(): Promise<DumpHandle> {
    const { ctx } = this;
    const client = await this.open();
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => (closed ??= client.end().catch(() => undefined));
    let tool: ReturnType<typeof startTool>;
    let before: string[];
    try {
      const server = await ctx.query('dump-failed', () => serverVersion(client));
      const pgDumpall = await ctx.dumpTool('pg_dumpall', server);
      before = await ctx.query('dump-failed', () => listRoles(client));
      tool = startTool(
        pgDumpall.path,
        ['--globals-only', '--no-password', ...(this.connectTo ? [`--database=${this.connectTo}`] : [])],
        ctx.toolEnv(ctx.target.database),
        { stdin: false, stdout: true },
      );
    } catch (err) {
      await close();
      throw err;
    }
    const stdout = tool.stdout;
    if (!stdout) throw new Error('pg_dumpall was started without a stdout pipe');
    const state = { aborted: false };
    const content = (async (): Promise<BackupContent> => {
      const exit = await tool.exit;
      if (state.aborted) throw new SourceError('dump-failed', 'pg_dumpall was aborted');
      if (exit.code !== 0)
        throw new SourceError('dump-failed', ctx.clean(describeFailure('pg_dumpall', exit)));
      const after = new Set(await ctx.query('dump-failed', () => listRoles(client)));
      // pg_dumpall read the roles at one moment in between: a role there before and after must be in the script.
      return { tables: before.filter((role) => after.has(role)).map(roleEntry) };
    })();
    content.catch(() => undefined);
    const finished = content.then(
      async () => close(),
      async (err: unknown) => {
        await close();
        throw err;
      },
    );
    finished.catch(() => undefined);
    return {
      stdout,
      content,
      finished,
      abort: () => {
        state.aborted = true;
        tool.kill();
        void close();
      },
    };
  }

  async checkStructure(input: Readable): Promise<StructureCheckResult> {
    const scan = await scanGlobals(input);
    const entries = scan.roles.length;
    if (!scan.complete)
      return {
        ok: false,
        tool: SCAN_TOOL,
        entries,
        detail: `the script does not end with "${GLOBALS_TRAILER}"`,
      };
    if (entries === 0) return { ok: false, tool: SCAN_TOOL, entries, detail: 'the script creates no role' };
    return { ok: true, tool: SCAN_TOOL, entries };
  }

  /** Checks the script rather than restoring it: roles exist once per cluster, a scratch database cannot hold them. */
  async restoreTest(input: Readable, expected: BackupContent, _scratch: Scratch): Promise<RestoreTestResult> {
    const started = performance.now();
    const scan = await scanGlobals(input);
    const dumped = new Set(scan.roles);
    const wanted = expected.tables.filter((t) => t.schema === ROLE_SCHEMA).map((t) => t.name);
    const missing = wanted.filter((role) => !dumped.has(role));
    const list =
      missing.length > 10
        ? `${missing.slice(0, 10).join(', ')} and ${missing.length - 10} more`
        : missing.join(', ');
    const checks: Check[] = [
      {
        name: 'roles',
        ok: missing.length === 0,
        expected: wanted.length,
        actual: wanted.length - missing.length,
        ...(missing.length ? { detail: `missing CREATE ROLE for ${list}` } : {}),
      },
      {
        name: 'complete',
        ok: scan.complete,
        ...(scan.complete ? {} : { detail: `the script does not end with "${GLOBALS_TRAILER}"` }),
      },
    ];
    return restoreTestResult('none (roles are cluster-wide)', checks, started);
  }

  /**
   * Runs the script with psql against the maintenance database. Roles that already exist are expected (the
   * cluster is live; their ALTER ROLE statements still apply); any other error fails the restore. `clean` changes
   * nothing: roles are never dropped.
   */
  async restore(input: Readable, _options: RestoreOptions): Promise<void> {
    const { ctx } = this;
    // Roles cannot be staged (they are cluster-wide): nothing runs until the whole script is here and checked.
    const script = await readWhole(input, MAX_GLOBALS_BYTES);
    const admin = await ctx.connectMaintenance();
    let server;
    let database: string;
    try {
      server = await ctx.query('restore-failed', () => serverVersion(admin));
      const { rows } = await ctx.query('restore-failed', () =>
        admin.query<{ name: string }>('SELECT current_database() AS name'),
      );
      database = rows[0]?.name ?? 'postgres';
    } finally {
      await admin.end().catch(() => undefined);
    }
    const psql = await ctx.tool('psql', server);
    const tool = startTool(
      psql.path,
      ['-X', '-q', '-v', 'ON_ERROR_STOP=0', '--no-password', '--file=-'],
      ctx.toolEnv(database),
      {
        stdin: true,
        stdout: false,
      },
    );
    // Watched line by line, not through the capped capture: a cluster with many roles reports many tolerated errors.
    let firstError: string | undefined;
    let carry = '';
    const take = (line: string): void => {
      const text = oneLine(line);
      if (firstError === undefined && /\b(ERROR|FATAL):|^psql: error:/.test(text) && !isTolerated(text))
        firstError = text;
    };
    tool.child.stderr?.on('data', (text: string | Buffer) => {
      const lines = (carry + text.toString()).split('\n');
      carry = lines.pop() ?? '';
      lines.forEach(take);
    });
    await feedTool(Readable.from([script]), tool);
    const exit = await tool.exit;
    if (carry) take(carry);
    if (firstError !== undefined) throw new SourceError('restore-failed', ctx.clean(firstError));
    if (exit.code !== 0) throw new SourceError('restore-failed', ctx.clean(describeFailure('psql', exit)));
  }

  /** The cluster's roles as content.tables records them. */
  async tableCounts(): Promise<TableCount[]> {
    const client = await this.open();
    try {
      return (await this.ctx.query('source-unreachable', () => listRoles(client))).map(roleEntry);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private open(): Promise<Client> {
    return this.connectTo ? this.ctx.connect(this.connectTo) : this.ctx.connectMaintenance();
  }
}

/** The roles pg_dumpall writes: all but the predefined pg_* ones. */
async function listRoles(client: Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT rolname AS name FROM pg_catalog.pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname COLLATE "C"`,
  );
  return rows.map((row) => row.name);
}

function roleEntry(name: string): TableCount {
  return { schema: ROLE_SCHEMA, name, rows: 0 };
}

// pg_dumpall --globals-only is a few KiB per role: far beyond this is not a globals script.
const MAX_GLOBALS_BYTES = 256 * 1024 * 1024;

async function readWhole(input: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const piece of input as AsyncIterable<Buffer | string>) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    size += chunk.length;
    if (size > limit)
      throw new SourceError(
        'restore-failed',
        `the roles script is larger than ${limit} bytes; nothing was run`,
      );
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
