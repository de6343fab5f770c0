import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ArtifactFormat, BackupContent, Check } from '@tidemark/manifest';
import {
  restoreTestResult,
  type ChainMember,
  type ChainSource,
  type DumpContext,
  type DumpHandle,
  errorCode,
  readTar,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  SourceError,
  type SourceInfo,
  type SourceOptions,
  type SourceTarget,
  type StructureCheckResult,
  type TarEntry,
  TarFormatError,
} from '@tidemark/source-contract';
import type { DirectorySettings } from './settings';
import { fsReason, removeTree } from './fs-util';
import { runHook } from './hooks';
import { excluder, parseDirectoryUrl, type Excluder } from './location';
import { ContentMismatch, restorePoint, STAGING_MARK } from './restore';
import { startTarDump, type DumpHooks } from './tar-dump';
import { checkTree } from './tree-checks';
import { walk } from './walk';

const TOOL = 'tidemark tar';

/**
 * A data directory (e.g. a LauraDB data dir) backed up as tar chains: a full holds every file, an incremental only
 * the files whose size and mtime (or content) changed; `pre`/`post` hooks can pause the writer around the tar.
 */
export class DirectorySource implements ChainSource {
  readonly kind = 'directory';
  readonly incremental = true;
  readonly format: ArtifactFormat = 'tar';
  /** The absolute path of the directory: backed up, and where a restore rebuilds it. */
  readonly dir: string;
  private readonly settings: DirectorySettings;
  private readonly exclude: Excluder;
  private readonly env: NodeJS.ProcessEnv;

  /** `hooks` are test seams into the dump's open and read steps; they are not target settings. */
  constructor(
    target: SourceTarget,
    options: SourceOptions = {},
    private readonly hooks: DumpHooks = {},
  ) {
    this.dir = parseDirectoryUrl(target.url);
    this.settings = target.options ?? {};
    this.exclude = excluder(this.settings);
    this.env = options.env ?? process.env;
  }

  async preCheck(): Promise<SourceInfo> {
    await this.assertReadable();
    const listed = await walk(this.dir, { exclude: this.exclude });
    return {
      kind: this.kind,
      database: this.dir,
      host: hostname(),
      serverVersion: 'directory',
      serverMajor: 0,
      dumpTool: TOOL,
      estimatedBytes: listed.reduce((sum, entry) => sum + (entry.type === 'file' ? entry.size : 0), 0),
    };
  }

  async dump(context: DumpContext): Promise<DumpHandle> {
    await this.assertReadable();
    // A failed `pre` means the writer may not be paused: no tar at all.
    if (this.settings.pre) await runHook('pre', this.settings.pre, this.dir, this.env);
    const tar = startTarDump({
      root: this.dir,
      backupId: context.backupId,
      previous: context.previous,
      exclude: this.exclude,
      hooks: this.hooks,
    });
    const post = this.settings.post;
    const finished = (async () => {
      let failure: Error | undefined;
      await tar.content.catch((err: unknown) => {
        failure = asError(err);
      });
      // `post` undoes what `pre` did (resumes writes), so it runs whether or not the tar succeeded.
      if (post) {
        await runHook('post', post, this.dir, this.env).catch((err: unknown) => {
          failure ??= asError(err);
        });
      }
      if (failure !== undefined) throw failure;
    })();
    finished.catch(() => undefined);
    return {
      stdout: tar.stdout,
      content: tar.content,
      finished,
      abort: () => {
        tar.abort();
      },
    };
  }

  async checkStructure(input: Readable): Promise<StructureCheckResult> {
    let entries = 0;
    const count = async (entry: TarEntry): Promise<void> => {
      entries++;
      for await (const _chunk of entry.body) {
        // drained: only the archive's shape is checked here
      }
    };
    try {
      await readTar(input, count, { onError: 'drain' });
    } catch (err) {
      if (err instanceof TarFormatError) return { ok: false, tool: TOOL, entries, detail: err.message };
      throw err;
    }
    return { ok: true, tool: TOOL, entries };
  }

  async restore(
    members: AsyncIterable<ChainMember>,
    point: BackupContent,
    options: RestoreOptions,
  ): Promise<void> {
    await restorePoint(this.dir, members, point, { clean: options.clean, strict: true });
  }

  async restoreTest(
    members: AsyncIterable<ChainMember>,
    point: BackupContent,
    scratch: Scratch,
  ): Promise<RestoreTestResult> {
    if (!/^[^/\0]+$/.test(scratch.name) || scratch.name === '.' || scratch.name === '..') {
      throw new RangeError(`scratch name must be a single path segment, got "${scratch.name}"`);
    }
    const dest = join(scratch.dir, scratch.name);
    const started = performance.now();
    await removeScratch(scratch);
    try {
      let checks: Check[];
      try {
        await restorePoint(dest, members, point, { clean: true, strict: false });
        checks = await checkTree(dest, point);
      } catch (err) {
        // A backup that does not check out is a failed test, not a broken test run.
        if (!(err instanceof ContentMismatch)) throw err;
        checks = [{ name: 'restore', ok: false, detail: err.message }];
      }
      return restoreTestResult(dest, checks, started);
    } finally {
      await removeScratch(scratch);
    }
  }

  private async assertReadable(): Promise<void> {
    const stats = await stat(this.dir).catch((err: unknown) => {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') {
        throw new SourceError('source-missing-database', `directory ${this.dir} does not exist`);
      }
      throw new SourceError('source-unreachable', `cannot reach directory ${this.dir}: ${fsReason(err)}`);
    });
    if (!stats.isDirectory()) {
      throw new SourceError('source-missing-database', `${this.dir} is not a directory`);
    }
    await access(this.dir, constants.R_OK | constants.X_OK).catch((err: unknown) => {
      throw new SourceError('source-auth', `directory ${this.dir} is not readable: ${fsReason(err)}`);
    });
  }
}

/** The scratch copy and anything a crashed earlier test left beside it (staging and replaced directories). */
async function removeScratch(scratch: Scratch): Promise<void> {
  const names = await readdir(scratch.dir).catch(() => [] as string[]);
  const leftovers = names.filter(
    (name) =>
      name === scratch.name ||
      name.startsWith(`${scratch.name}${STAGING_MARK}`) ||
      name.startsWith(`${scratch.name}.tidemark-old-`),
  );
  for (const name of leftovers) await removeTree(join(scratch.dir, name));
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function createDirectorySource(target: SourceTarget, options: SourceOptions): DirectorySource {
  return new DirectorySource(target, options);
}
