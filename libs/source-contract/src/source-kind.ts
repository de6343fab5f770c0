import type { ArtifactFormatSpec, Run } from '@tidemark/manifest';
import type { z } from 'zod';
import type { Source, SourceOptions, SourceSettings, SourceTarget } from './source';

/** One member of a server run: the cluster's roles (`globals`) or one database. */
export interface RunMember {
  name: string;
  role: Run['role'];
}

/** A kind whose target may stand for several backups taken as one run (a server: its roles, then each database). */
export interface ServerRuns {
  /** Whether a target with these settings is a run rather than one backup. */
  isRun(settings: SourceSettings): boolean;
  /** The run's members in dump order; `target` is resolved (secrets in place). */
  members(target: SourceTarget, env: NodeJS.ProcessEnv): Promise<RunMember[]>;
  /** The source of one member of the run. */
  memberTarget(target: SourceTarget, member: RunMember): SourceTarget;
}

/** What restore knows about the backup it restores when it asks a kind where `--to` points. */
export interface RestoreBackup {
  format: string;
  /** `--jobs`: parallel restore workers, for the formats that can use them. */
  jobs?: number | undefined;
}

/**
 * Everything the rest of Tidemark knows about one kind of source. Adding a kind is one lib exporting one of these
 * and one line in the registry (libs/source-kinds); no other code names a kind or a format.
 */
export interface SourceKind {
  /** The target's `kind:` in the config file. */
  readonly name: string;
  /** What the target's url is, in messages that cannot quote it (e.g. `PostgreSQL URL`). */
  readonly urlDescription: string;
  /**
   * The kind's own target keys beside `id`, `kind`, `url`, `policy` (all optional), e.g. `excludeTables`. A key
   * declared by another kind is refused for this one.
   */
  readonly settings: z.ZodObject;
  /** Backups form chains (a full, then changes only) when the target sets `incremental`. */
  readonly chains: boolean;
  /**
   * Cross-field checks of one target of this kind (already shaped by `settings`), each problem at the key at
   * fault; the config file's target schema merges every kind's keys, so object-level rules live here.
   */
  readonly refine?: (
    target: Readonly<Record<string, unknown>>,
  ) => readonly { path: string; message: string }[];
  /** The formats this kind's sources write: name, file extension, and the stock tool that reads it. */
  readonly formats: readonly ArtifactFormatSpec[];
  /** Parses a resolved url the way the source will, throwing its SourceError; config validation uses the verdict. */
  parseUrl(url: string): unknown;
  /** A first label for the manifest's `target.database` until the pre-check names it; never the url's secrets. */
  databaseLabel(url: string): string;
  /** Local bytes a dump in `format` needs, given the pre-check's estimate of the source's size. */
  localBytes(format: string, estimatedBytes: number): number;
  /** Server runs (PostgreSQL's `databases`); absent for kinds whose target is always one backup. */
  readonly runs?: ServerRuns;
  /**
   * Restore: the source target `--to` names, or null when `to` is a file path to write the decompressed artifact
   * to (a dump file for the stock tools).
   */
  restoreTarget(to: string, backup: RestoreBackup): SourceTarget | null;
  create(target: SourceTarget, options: SourceOptions): Source;
}

/** `scheme://…`: a destination given as a url rather than a file path. */
export function isUrlDestination(to: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(to);
}

/** The database a server url names (its path), decoded; `unknown` when the url does not parse or names none. */
export function urlDatabaseLabel(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'unknown';
  } catch {
    return 'unknown';
  }
}
