import type { Readable } from 'node:stream';
import type {
  ArtifactFormat,
  BackupContent,
  Check,
  Compression,
  FileEntry,
  TableCount,
} from '@tidemark/manifest';
import type { ArchivedWal, RecoveryTarget, Timeline } from '@tidemark/wal';

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

/** What the dumper tells a source about the backup it is taking. */
export interface DumpContext {
  backupId: string;
  /** A directory on the local tier this dump may use for temporary files (emptied by the caller afterwards). */
  workDir: string;
  /**
   * Incremental kinds: the complete listing of the backup this one builds on. Absent means take a full.
   * Entries whose size, mtime (and, where cheap, hash) are unchanged keep their `in`; the rest are written.
   */
  previous?: { backupId: string; files: FileEntry[] };
  /**
   * The artifact's compression. A source whose tool compresses faster than the dumper can (in C, on several
   * threads) may emit the stream already compressed this way, and says so in {@link DumpHandle.precompressed}.
   */
  compression?: Compression;
}

export interface DumpHandle {
  /**
   * The dump stream, raw (the caller compresses it) unless {@link precompressed}. Not buffered here: the tool
   * waits while it is not read.
   */
  stdout: Readable;
  /**
   * Set when `stdout` is already in the context's compression: the caller stores it as it is. `rawBytes` is the
   * uncompressed size, known once `finished` settles.
   */
  precompressed?: { rawBytes(): number };
  /**
   * What the backup holds: row counts taken in the same snapshot as the dump, or the file listing. Settles
   * no later than `finished`.
   */
  content: Promise<BackupContent>;
  /** Resolves when the tool exited 0 and the content is known; rejects with SourceError('dump-failed'). */
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

/** A restore test's result: ok when every check is, timed from `startedAt` (a `performance.now()` reading). */
export function restoreTestResult(scratch: string, checks: Check[], startedAt: number): RestoreTestResult {
  return {
    ok: checks.every((check) => check.ok),
    durationMs: Math.round(performance.now() - startedAt),
    scratch,
    checks,
  };
}

export interface StructureCheckResult {
  ok: boolean;
  tool: string;
  entries: number;
  detail?: string;
}

/** Where a restore test may put its scratch copy: a database name for servers, a path under `dir` for files. */
export interface Scratch {
  /** Deterministic per backup, so a retried test reuses (and first removes) the same scratch. */
  name: string;
  /** A directory on the local tier for file-based scratch copies. */
  dir: string;
  /** Physical backups: the target's WAL archive, to recover the scratch copy to the backup's end. */
  wal?: WalSupply;
}

/** One file of a target's WAL archive, as PostgreSQL names it. */
export interface WalFileRequest {
  timeline: Timeline;
  /** A segment name (`000000010000000000000003`) or a history file name (`00000002.history`). */
  file: string;
  /** Take the shipped partial of this segment (a recovery's last file), not the completed segment. */
  partial?: boolean;
}

/**
 * Reads a target's archived WAL for a restore, each file checked against its sha256 on the way. Implemented by
 * the caller over its archive; the kind decides which files it needs.
 */
export interface WalSupply {
  /**
   * Writes the file, decompressed, to `destination` (created or replaced whole, never half-written). Rejects
   * with SourceError('wal-missing') when the archive does not hold it (yet) and 'restore-failed' when its bytes
   * do not match their checksum.
   */
  fetch(request: WalFileRequest, destination: string): Promise<void>;
}

/** What a point-in-time restore replays onto the base backup, as the recovery planner chose it. */
export interface RecoveryRequest {
  /** The files to put in place, in replay order (history files first, a trailing partial last). */
  files: readonly ArchivedWal[];
  /**
   * Time targets: the archive's files after `files`, fetched in order only while the placed WAL holds no
   * transaction after the target (where the target lies cannot be told from receive times alone).
   */
  more?: readonly ArchivedWal[];
  wal: WalSupply;
  target: RecoveryTarget;
  /** Start the restored server on this port and wait until its recovery has ended (else it is left stopped). */
  start?: { port: number };
}

export interface RecoveryResult {
  /** Where the restored data directory is. */
  destination: string;
  /** When started: the time of the last transaction recovery replayed (null when it replayed none). */
  reachedAt?: Date | null;
  /** When started: the port it listens on (it keeps running). */
  port?: number;
}

/** One decompressed, checksum-verified artifact of an incremental chain, handed over in chain order. */
export interface ChainMember {
  backupId: string;
  stream: Readable;
}

export interface RestoreOptions {
  /** Replace what is at the destination; without it a non-empty destination is refused ('target-not-empty'). */
  clean: boolean;
  /** Set when the input is still compressed this way: only for a source whose `unpacks` lists it. */
  compression?: Compression;
}

/** Whether `source` takes its restore input still compressed with `compression` (see StreamSource.unpacks). */
export function unpacksItself(source: Source, compression: Compression): boolean {
  return !source.incremental && compression !== 'none' && (source.unpacks?.includes(compression) ?? false);
}

interface SourceBase {
  readonly kind: string;
  readonly format: ArtifactFormat;
  preCheck(): Promise<SourceInfo>;
  dump(context: DumpContext): Promise<DumpHandle>;
  /** Reads `input` to its end even when the tool stops early, so a caller hashing the same stream sees every byte. */
  checkStructure(input: Readable): Promise<StructureCheckResult>;
}

/** A source whose every backup is one self-contained artifact (a database dump, a file copy). */
export interface StreamSource extends SourceBase {
  readonly incremental: false;
  /**
   * Compressions whose artifacts this source unpacks itself in a tool (GNU tar with zstd, in C): its restore,
   * recover and restoreTest then receive the stored bytes checked but still compressed, with the compression
   * named in their options, instead of a stream Node decompressed (slower, and every byte through the heap).
   */
  readonly unpacks?: readonly Compression[];
  /** Restores into a scratch copy, compares it with `expected` (row counts, integrity), always removes the scratch. */
  restoreTest(
    input: Readable,
    expected: BackupContent,
    scratch: Scratch,
    options?: Pick<RestoreOptions, 'compression'>,
  ): Promise<RestoreTestResult>;
  /** Restores into the place this Source points at (created when missing). */
  restore(input: Readable, options: RestoreOptions): Promise<void>;
  /**
   * Kinds with a WAL archive (PostgreSQL physical): restores the base backup from `input` and the archived WAL
   * `request` names into the place this Source points at, set to recover to `request.target`. Nothing appears
   * there unless every file checked out.
   */
  recover?(input: Readable, request: RecoveryRequest, options: RestoreOptions): Promise<RecoveryResult>;
  tableCounts(): Promise<TableCount[]>;
  /**
   * Restore drills' assertions: runs one statement on the database this source points at and returns the first
   * column of its first row (null when there is none). Kinds without a query language leave it out.
   */
  queryValue?(sql: string): Promise<unknown>;
  /**
   * Drops this server's scratch databases whose names start with `prefix` and that `isLive` does not claim (left
   * by restore tests that died), never one in use; returns the names dropped. Kinds whose scratch copies are
   * files under `Scratch.dir` (or that write none) leave it out: the caller cleans that directory.
   */
  removeScratchLeftovers?(prefix: string, isLive: (name: string) => Promise<boolean>): Promise<string[]>;
}

/**
 * A source whose backups form chains (a full, then changes): a point is rebuilt from its chain's members, given
 * in order from the full; `point.files` says which member holds each entry's bytes. Members that hold nothing
 * the point needs may be left out by the caller.
 */
export interface ChainSource extends SourceBase {
  readonly incremental: true;
  restoreTest(
    members: AsyncIterable<ChainMember>,
    point: BackupContent,
    scratch: Scratch,
  ): Promise<RestoreTestResult>;
  /** Rebuilds the point at the place this Source points at; nothing appears there unless every entry checked out. */
  restore(members: AsyncIterable<ChainMember>, point: BackupContent, options: RestoreOptions): Promise<void>;
}

/** The one interface every kind of store plugs into. */
export type Source = StreamSource | ChainSource;

export interface SourceTarget {
  kind: string;
  /** Already resolved (secrets in place): a server URL, a file or directory path, or a container URL. */
  url: string;
  /** Kind-specific settings from the target's config (e.g. `exclude`, `pre`, `post` for directories). */
  options?: SourceSettings;
}

/**
 * A target's kind-specific settings, as its kind's `SourceKind.settings` schema declares them; each kind reads its
 * own and ignores the rest.
 */
export type SourceSettings = Readonly<Record<string, unknown>>;

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
  /** The destination is in use (sessions connected, another restore running): nothing was changed. */
  | 'target-busy'
  | 'unsupported-kind'
  | 'invalid-url'
  /** A target setting the tool would refuse (e.g. an exclude pattern): permanent until the config changes. */
  | 'invalid-settings'
  | 'hook-failed'
  /** An archived WAL file a restore needs is not (yet) in the archive. */
  | 'wal-missing';

/** Codes no retry mends: the same call fails the same way until the config, the tools or the source change. */
const PERMANENT_CODES: ReadonlySet<SourceErrorCode> = new Set<SourceErrorCode>([
  'source-auth',
  'source-missing-database',
  'tool-missing',
  'tool-too-old',
  'unsupported-kind',
  'invalid-url',
  'invalid-settings',
]);

/** Failure with a stable code; the message is one line and never carries a password. */
export class SourceError extends Error {
  override readonly name = 'SourceError';

  constructor(
    readonly code: SourceErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** Whether trying again may succeed (unreachable, a dump that broke off), as opposed to a permanent failure. */
  get retryable(): boolean {
    return !PERMANENT_CODES.has(this.code);
  }
}
