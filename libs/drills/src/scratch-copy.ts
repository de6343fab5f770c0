import { resolveScratch, resolveTarget, type LoadedConfig } from '@tidemark/config';
import type { Check, Manifest } from '@tidemark/manifest';
import { policyOf, targetById } from '@tidemark/policy';
import { compareCounts } from '@tidemark/source-contract';
import { createSource, isUrlDestination, type Source, type SourceTarget } from '@tidemark/source-kinds';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DRILL_PREFIX, isStaleDrillCopy } from './drill-names';

/** One restored copy a drill checks, then removes. */
export interface DrillCopy {
  /** Where `RestoreService` restores to (a database url or a path). */
  readonly to: string;
  /** The restore test's checks: row counts against the backup's, or its files. */
  checks(manifest: Manifest): Promise<Check[]>;
  /** The value a statement returns on the copy; undefined when the kind has no query language. */
  readonly query: ((sql: string) => Promise<unknown>) | undefined;
  /** Directory copies: the size of a file in it (null when missing); undefined for other kinds. */
  readonly fileSize: ((path: string) => Promise<number | null>) | undefined;
  remove(): Promise<void>;
}

/** Where a target's drills make their copies, and how leftovers of dead drills are found there. */
export interface DrillScratch {
  /** For the report and `tidemark targets`: never a url (it may hold a password). */
  readonly description: string;
  copy(name: string): DrillCopy;
  /** Drops the drills' copies made longer ago than the bound; returns their names. */
  sweep(now: Date): Promise<string[]>;
}

/**
 * The target's scratch: its policy's scratch server or directory, or (none configured) a scratch database on its
 * own server, as restore tests do without one.
 */
export function drillScratchFor(
  config: LoadedConfig,
  targetId: string,
  env: NodeJS.ProcessEnv,
): DrillScratch {
  const target = resolveTarget(config, targetId, env);
  const scratch = resolveScratch(config, targetId, env);
  if (scratch && 'url' in scratch) {
    const ref = policyOf(config, targetById(config, targetId)).verify.scratch?.url ?? '';
    return new ServerScratch({ ...target, url: scratch.url }, `scratch server ${ref}`, env);
  }
  if (isUrlDestination(target.url)) return new ServerScratch(target, 'source (no scratch)', env);
  const dir =
    scratch && 'path' in scratch ? resolve(scratch.path) : join(resolve(config.local.path), '.scratch');
  return new DirectoryScratch(target, dir, env);
}

/** `url` with its database (path) replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

class ServerScratch implements DrillScratch {
  constructor(
    private readonly server: SourceTarget,
    readonly description: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  private admin(): Source {
    return createSource(this.server, { env: this.env });
  }

  copy(name: string): DrillCopy {
    const to = withDatabase(this.server.url, name);
    const restored = createSource({ ...this.server, url: to }, { env: this.env });
    return {
      to,
      checks: async (manifest) => {
        if (restored.incremental) return [];
        return compareCounts(manifest.content.tables, await restored.tableCounts());
      },
      query: queryOf(restored),
      fileSize: undefined,
      remove: async () => {
        const admin = this.admin();
        if (admin.incremental || !admin.removeScratchLeftovers) return;
        await admin.removeScratchLeftovers(name, (found) => Promise.resolve(found !== name));
      },
    };
  }

  async sweep(now: Date): Promise<string[]> {
    const admin = this.admin();
    if (admin.incremental || !admin.removeScratchLeftovers) return [];
    return admin.removeScratchLeftovers(DRILL_PREFIX, (name) =>
      Promise.resolve(!isStaleDrillCopy(name, now)),
    );
  }
}

class DirectoryScratch implements DrillScratch {
  readonly description: string;

  constructor(
    private readonly target: SourceTarget,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.description = `directory ${dir}`;
  }

  copy(name: string): DrillCopy {
    const to = join(this.dir, name);
    const sizeOf = (path: string): Promise<number | null> =>
      stat(join(to, path)).then(
        (s) => (s.isFile() ? s.size : null),
        () => null,
      );
    return {
      to,
      checks: async (manifest) => {
        await mkdir(this.dir, { recursive: true });
        const files = manifest.content.files;
        if (!files) {
          const restored = createSource({ ...this.target, url: to }, { env: this.env });
          if (restored.incremental) return [];
          return compareCounts(manifest.content.tables, await restored.tableCounts());
        }
        return [await fileCheck(files, sizeOf)];
      },
      query: undefined,
      fileSize: sizeOf,
      remove: () => rm(to, { recursive: true, force: true }),
    };
  }

  async sweep(now: Date): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const stale = names.filter((name) => name.startsWith(DRILL_PREFIX) && isStaleDrillCopy(name, now));
    for (const name of stale) await rm(join(this.dir, name), { recursive: true, force: true });
    return stale;
  }
}

/** Every regular file of the backup is back with its size. */
async function fileCheck(
  files: NonNullable<Manifest['content']['files']>,
  sizeOf: (path: string) => Promise<number | null>,
): Promise<Check> {
  const expected = files.filter((f) => f.type === 'file');
  const wrong: string[] = [];
  for (const file of expected) {
    const size = await sizeOf(file.path);
    if (size !== file.size)
      wrong.push(size === null ? `${file.path} missing` : `${file.path} has ${size} bytes`);
  }
  return {
    name: 'files',
    ok: wrong.length === 0,
    expected: expected.length,
    actual: expected.length - wrong.length,
    ...(wrong.length > 0 ? { detail: wrong.slice(0, 10).join('; ') } : {}),
  };
}

function queryOf(source: Source): ((sql: string) => Promise<unknown>) | undefined {
  if (source.incremental || !source.queryValue) return undefined;
  return source.queryValue.bind(source);
}
