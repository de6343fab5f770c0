import type { Client } from 'pg';
import { serverWork, SourceError, type SourceErrorCode, type SourceOptions } from '@tidemark/source-contract';
import { redact } from '@tidemark/redaction';
import { connect, connectError, toolEnv, type PgTarget } from './connection';
import { quoteIdent } from './counts';
import { isConnectionFailure, type ServerVersion } from './server';
import { assertNewEnough, findTool, type PgTool, type PgToolName } from './tools';

/** What every PostgreSQL source needs to reach its server and its tools, and to report failures without secrets. */
export class PgContext {
  readonly env: NodeJS.ProcessEnv;
  readonly binDir: string | undefined;

  constructor(
    readonly target: PgTarget,
    options: SourceOptions,
  ) {
    this.env = options.env ?? process.env;
    this.binDir = options.binDir;
  }

  connect(database: string): Promise<Client> {
    return connect(this.target, database);
  }

  /** The maintenance database for cluster-wide work; template1 where a provider removed 'postgres'. */
  async connectMaintenance(): Promise<Client> {
    try {
      return await connect(this.target, 'postgres');
    } catch (err) {
      if (err instanceof SourceError && err.code === 'source-missing-database')
        return connect(this.target, 'template1');
      throw err;
    }
  }

  /** Environment for a tool connecting to `database` (undefined: a tool that needs no connection). */
  toolEnv(database: string | undefined): NodeJS.ProcessEnv {
    return toolEnv(this.target, database, this.env);
  }

  tool(name: PgToolName, server: ServerVersion | undefined): Promise<PgTool> {
    return findTool(name, { binDir: this.binDir, env: this.env, serverMajor: server?.major });
  }

  /** A dump tool (pg_dump, pg_dumpall) at least as new as the server: an older one misses or refuses objects. */
  async dumpTool(name: PgToolName, server: ServerVersion): Promise<PgTool> {
    const tool = await this.tool(name, server);
    assertNewEnough(tool, server);
    return tool;
  }

  /** Runs server work, turning anything unexpected into a one-line SourceError without the password. */
  query<T>(code: SourceErrorCode, work: () => Promise<T>, options: { prefix?: string } = {}): Promise<T> {
    const unreachable = (err: unknown): SourceError => connectError(err, this.target, this.target.database);
    return serverWork(
      { password: this.target.password, isConnectionFailure, connectError: unreachable },
      code,
      work,
      options,
    );
  }

  /** Drops `name` even while sessions are connected to it (they are ended). */
  async dropDatabase(admin: Client, name: string, server: ServerVersion, what = 'scratch'): Promise<void> {
    await this.query(
      'restore-failed',
      async () => {
        if (server.versionNum >= 130000) {
          await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
          return;
        }
        await admin.query(
          'SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [name],
        );
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
      },
      { prefix: `cannot drop ${what} database "${name}"` },
    );
  }

  clean(text: string): string {
    return redact(text, [this.target.password]);
  }
}
