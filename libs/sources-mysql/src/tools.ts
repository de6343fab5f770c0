import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { isExecutable, type RunningTool, SourceError, startTool } from '@tidemark/source-contract';
import type { MysqlTarget } from './connection';

const run = promisify(execFile);

export type ToolRole = 'dump' | 'client';

/** Preferred first: MariaDB's own names, then the MySQL names (which MariaDB packages also ship as links). */
const CANDIDATES: Record<ToolRole, readonly string[]> = {
  dump: ['mariadb-dump', 'mysqldump'],
  client: ['mariadb', 'mysql'],
};

export interface MysqlTool {
  name: string;
  path: string;
  /** `10.11.19` for MariaDB tools (their `Distrib`), `8.0.36` for MySQL's. */
  version: string;
  /** `mariadb-dump 10.11.19`: what the manifest records as the tool. */
  label: string;
}

export interface ToolLookup {
  binDir: string | undefined;
  env: NodeJS.ProcessEnv;
}

/** Finds the tool for `role` (binDir, TIDEMARK_MYSQL_BIN, else PATH) and reads its version. */
export async function findTool(role: ToolRole, lookup: ToolLookup): Promise<MysqlTool> {
  const { name, path } = await locate(role, lookup);
  let stdout: string;
  try {
    ({ stdout } = await run(path, ['--version'], { env: lookup.env, timeout: 10_000 }));
  } catch (err) {
    const reason = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    throw new SourceError('tool-missing', `cannot run ${path} --version: ${reason}`);
  }
  const version = parseToolVersion(stdout);
  if (!version) throw new SourceError('tool-missing', `${path} --version printed no version`);
  return { name, path, version, label: `${name} ${version}` };
}

/** MariaDB prints `Ver 10.19 Distrib 10.11.19-MariaDB`; the Distrib is the release people know. */
export function parseToolVersion(output: string): string | undefined {
  return (/Distrib\s+(\d+\.\d+\.\d+)/.exec(output) ?? /Ver\s+(\d+\.\d+(?:\.\d+)?)/.exec(output))?.[1];
}

async function locate(role: ToolRole, lookup: ToolLookup): Promise<{ name: string; path: string }> {
  const names = CANDIDATES[role];
  const explicit = lookup.binDir ?? lookup.env['TIDEMARK_MYSQL_BIN'];
  const dirs = explicit
    ? [explicit]
    : (lookup.env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const name of names) {
    for (const dir of dirs) {
      const path = join(dir, name);
      if (await isExecutable(path)) return { name, path };
    }
  }
  const looked = dirs.length > 0 ? dirs.join(', ') : 'an empty PATH';
  const wanted = names.join(' or ');
  throw new SourceError(
    'tool-missing',
    `${wanted} not found (looked in ${looked}); install the MariaDB or MySQL client tools or set TIDEMARK_MYSQL_BIN`,
  );
}

/** Quoted option-file value: the file parser undoes exactly these escapes inside double quotes. */
function optionValue(value: string): string {
  const escaped = value
    .replaceAll('\\', '\\\\')
    .replaceAll('"', '\\"')
    .replaceAll('\n', '\\n')
    .replaceAll('\r', '\\r')
    .replaceAll('\t', '\\t');
  return `"${escaped}"`;
}

// The tools would otherwise take these from the environment when our settings leave a gap.
const AMBIENT = /^(MYSQL_PWD|MYSQL_HOST|MYSQL_TCP_PORT|MYSQL_UNIX_PORT)$/;

function toolEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) if (!AMBIENT.test(key)) env[key] = value;
  return env;
}

/**
 * Starts a MySQL tool against `target`. The password goes into an option file (0600, in a fresh 0700
 * directory) named by `--defaults-extra-file`, which the tools accept only as their first argument; the file
 * is removed when the tool exits. Host, port and user are given on the command line, where they override
 * anything in the user's own option files; TCP is forced so `localhost` means the same as for mysql2.
 */
export async function startMysqlTool(
  tool: MysqlTool,
  target: MysqlTarget,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdio: { stdin: boolean; stdout: boolean },
): Promise<RunningTool> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-mysql-'));
  const optionFile = join(dir, 'client.cnf');
  let running: RunningTool;
  try {
    await writeFile(optionFile, `[client]\npassword=${optionValue(target.password)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    running = startTool(
      tool.path,
      [
        `--defaults-extra-file=${optionFile}`,
        `--host=${target.host}`,
        `--port=${target.port}`,
        `--user=${target.user}`,
        '--protocol=TCP',
        ...args,
      ],
      toolEnv(env),
      stdio,
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const exit = running.exit.then(async (result) => {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    return result;
  });
  return {
    child: running.child,
    stdin: running.stdin,
    stdout: running.stdout,
    exit,
    kill: () => {
      running.kill();
    },
  };
}
