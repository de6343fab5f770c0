import type { Readable } from 'node:stream';
import type { ArtifactFormat, Check, TableCount } from '@tidemark/manifest';

/** What a pre-check learns about a source before a dump is started. */
export interface SourceInfo {
  kind: string;
  database: string;
  /** `host:port` (or socket directory and port) of the server, never with credentials. */
  host: string;
  serverVersion: string;
  serverMajor: number;
  /** Name and version of the tool that produces the artifact, e.g. `pg_dump 15.20`. */
  dumpTool: string;
  estimatedBytes: number;
}

export interface DumpHandle {
  /** The raw dump stream; the caller compresses it. Not buffered here: the tool waits while it is not read. */
  stdout: Readable;
  /** Row counts taken in the same snapshot as the dump. */
  tables: Promise<TableCount[]>;
  /** Resolves when the tool exited 0 and the counts are in; rejects with SourceError('dump-failed'). */
  finished: Promise<void>;
  /** Kills the tool and releases the snapshot (on failure or shutdown). */
  abort(): void;
}

export interface RestoreTestResult {
  ok: boolean;
  durationMs: number;
  scratch: string;
  checks: Check[];
}

export interface StructureCheckResult {
  ok: boolean;
  tool: string;
  entries: number;
  detail?: string;
}

/** The one interface every kind of database plugs into. */
export interface Source {
  readonly kind: string;
  readonly format: ArtifactFormat;
  preCheck(): Promise<SourceInfo>;
  dump(): Promise<DumpHandle>;
  /** Reads `input` to its end even when the tool stops early, so a caller hashing the same stream sees every byte. */
  checkStructure(input: Readable): Promise<StructureCheckResult>;
  /** Restores into a scratch database on the same server, compares row counts, always drops the scratch. */
  restoreTest(input: Readable, expected: TableCount[], scratchName: string): Promise<RestoreTestResult>;
  /** Restores into the database this Source points at (created when missing). */
  restore(input: Readable, options: { clean: boolean }): Promise<void>;
  tableCounts(): Promise<TableCount[]>;
}

export interface SourceTarget {
  kind: string;
  url: string;
}

export interface SourceOptions {
  /** Directory holding the dump/restore tools; overrides TIDEMARK_PG_BIN and discovery. */
  binDir?: string;
  /** Environment for tool lookup and the tools' processes; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export type SourceErrorCode =
  | 'source-unreachable'
  | 'source-auth'
  | 'source-missing-database'
  | 'tool-missing'
  | 'tool-too-old'
  | 'dump-failed'
  | 'restore-failed'
  | 'target-not-empty'
  | 'unsupported-kind'
  | 'invalid-url';

/** Failure with a stable code; the message is one line and never carries a password. */
export class SourceError extends Error {
  override readonly name = 'SourceError';

  constructor(
    readonly code: SourceErrorCode,
    message: string,
  ) {
    super(message);
  }
}
