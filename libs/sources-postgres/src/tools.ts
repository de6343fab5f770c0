import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { isExecutable, SourceError } from '@tidemark/source-contract';

const run = promisify(execFile);

export type PgToolName =
  | 'pg_dump'
  | 'pg_restore'
  | 'pg_dumpall'
  | 'psql'
  | 'pg_basebackup'
  | 'pg_verifybackup'
  | 'pg_controldata'
  | 'pg_ctl'
  | 'pg_waldump';

export interface PgTool {
  name: PgToolName;
  path: string;
  /** As printed by `--version`, e.g. `15.20` or `9.6.24`. */
  version: string;
  /** libpq-style number of the major release: 150000 for 15.x, 90600 for 9.6.x. */
  majorNum: number;
  /** `pg_dump 15.20`: what the manifest records as the tool. */
  label: string;
}

/** Where Debian/Ubuntu install each major version side by side. */
const DEBIAN_ROOT = '/usr/lib/postgresql';

export interface ToolLookup {
  binDir: string | undefined;
  env: NodeJS.ProcessEnv;
  /** The server's major version when known: discovery then prefers a tool at least that new. */
  serverMajor: number | undefined;
}

/** Finds the tool (binDir, TIDEMARK_PG_BIN, newest suitable Debian install, PATH) and reads its version. */
export async function findTool(name: PgToolName, lookup: ToolLookup): Promise<PgTool> {
  const path = await locate(name, lookup);
  let stdout: string;
  try {
    ({ stdout } = await run(path, ['--version'], { env: lookup.env, timeout: 10_000 }));
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new SourceError('tool-missing', `cannot run ${path} --version: ${reason}`);
  }
  const match =
    /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(stdout) ?? /(\d+)\.(\d+)(?:\.(\d+))?/.exec(stdout);
  if (!match) throw new SourceError('tool-missing', `${path} --version printed no version`);
  const version = match[0].replace(/^\(PostgreSQL\)\s+/, '');
  const major = Number(match[1]);
  const minor = Number(match[2] ?? 0);
  return {
    name,
    path,
    version,
    majorNum: major >= 10 ? major * 10000 : major * 10000 + minor * 100,
    label: `${name} ${version}`,
  };
}

async function locate(name: PgToolName, lookup: ToolLookup): Promise<string> {
  const explicit = lookup.binDir ?? lookup.env['TIDEMARK_PG_BIN'];
  if (explicit) {
    const path = join(explicit, name);
    if (await isExecutable(path)) return path;
    throw new SourceError('tool-missing', `${name} not found in ${explicit} (set TIDEMARK_PG_BIN)`);
  }
  for (const major of await debianMajors()) {
    if (lookup.serverMajor !== undefined && major < lookup.serverMajor) break;
    const path = join(DEBIAN_ROOT, String(major), 'bin', name);
    if (await isExecutable(path)) return path;
  }
  for (const dir of (lookup.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const path = join(dir, name);
    if (await isExecutable(path)) return path;
  }
  throw new SourceError(
    'tool-missing',
    `${name} not found in ${DEBIAN_ROOT}/*/bin or on PATH (set TIDEMARK_PG_BIN)`,
  );
}

/** Installed major versions under /usr/lib/postgresql, newest first. */
async function debianMajors(): Promise<number[]> {
  try {
    const entries = await readdir(DEBIAN_ROOT);
    return entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number)
      .sort((a, b) => b - a);
  } catch {
    return [];
  }
}

/** The major part of server_version_num in the same scale as PgTool.majorNum. */
export function serverMajorNum(serverVersionNum: number): number {
  return serverVersionNum >= 100000
    ? Math.floor(serverVersionNum / 10000) * 10000
    : Math.floor(serverVersionNum / 100) * 100;
}

/** `16` for 160004, `9.6` for 90624: how people name a major release. */
export function majorLabel(serverVersionNum: number): string {
  return serverVersionNum >= 100000
    ? String(Math.floor(serverVersionNum / 10000))
    : `${Math.floor(serverVersionNum / 10000)}.${Math.floor(serverVersionNum / 100) % 100}`;
}

/** pg_dump refuses (or silently misses objects of) a newer server, so refuse before starting. */
export function assertNewEnough(tool: PgTool, server: { version: string; versionNum: number }): void {
  if (tool.majorNum < serverMajorNum(server.versionNum)) {
    throw new SourceError(
      'tool-too-old',
      `${tool.label} is older than the PostgreSQL ${server.version} server; install ${tool.name} ${majorLabel(server.versionNum)} or newer`,
    );
  }
}
