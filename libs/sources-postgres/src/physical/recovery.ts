import { spawn } from 'node:child_process';
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SourceError, type WalFileRequest, type WalSupply } from '@tidemark/source-contract';
import { formatLsn, type ArchivedWal, type RecoveryTarget, type Timeline } from '@tidemark/wal';
import { findServerTool } from '../tools';

export {
  freeLocalPort,
  RecoveryFailed,
  startRecoveredServer,
  type RecoveredServer,
  type RecoveredServerOptions,
} from './recovered-server';

/**
 * Where the placed WAL lives, relative to the data directory: restore_command runs in the data directory, so
 * the relative path keeps working when the directory is renamed into place.
 */
export const WAL_DIRECTORY = 'tidemark-wal';

/** How many files are fetched at once: enough to hide the store's latency, few enough for a small host. */
const FETCH_PARALLELISM = 4;

/** One archived file to place, as the recovery planner lists them. */
export type WalToPlace = Pick<ArchivedWal, 'timeline' | 'file' | 'kind'>;

/**
 * Writes each file through `wal` into `<dataDir>/tidemark-wal/` under the name PostgreSQL asks for: a shipped
 * partial goes under its segment's name (it is full-size, zero-padded past its end, so recovery stops there).
 * Returns the directory. Rejections of the supply ('wal-missing', 'restore-failed') propagate unchanged.
 */
export async function placeWal(
  dataDir: string,
  files: readonly WalToPlace[],
  wal: WalSupply,
): Promise<string> {
  const dir = join(dataDir, WAL_DIRECTORY);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const queue = files.map((file): WalFileRequest => ({
    timeline: file.timeline,
    file: file.file,
    ...(file.kind === 'partial' ? { partial: true } : {}),
  }));
  const worker = async (): Promise<void> => {
    for (let request = queue.shift(); request; request = queue.shift())
      await wal.fetch(request, join(dir, request.file)).catch((err: unknown) => {
        queue.length = 0;
        throw err;
      });
  };
  // Every fetch settles before the first failure is thrown: the caller removes the directory next, and a fetch
  // still writing into it would make that removal fail (ENOTEMPTY) and hide the real error.
  const settled = await Promise.allSettled(
    Array.from({ length: Math.min(FETCH_PARALLELISM, queue.length) }, worker),
  );
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  return dir;
}

/** How many of the planner's further files are placed at a time while the target is not yet inside the WAL. */
const MORE_BATCH = 4;

/**
 * Places `files`, then for a time target the files of `more` in batches while the placed WAL holds no
 * transaction after the target: the planner chose `files` by receive times, which bound a file's commits from
 * above only, so the commit before the target may lie further on. Returns the directory.
 */
export async function placeWalFor(
  dataDir: string,
  request: {
    files: readonly WalToPlace[];
    more?: readonly WalToPlace[];
    target: RecoveryTarget;
    wal: WalSupply;
  },
  settings: Pick<RecoverySettings, 'binDir' | 'env'>,
): Promise<string> {
  const dir = await placeWal(dataDir, request.files, request.wal);
  const { target } = request;
  if (target.type !== 'time') return dir;
  const more = [...(request.more ?? [])];
  const targetMicros = BigInt(target.at.getTime()) * 1000n;
  while (more.length > 0) {
    const last = await lastTransactionMicros(dataDir, settings);
    if (last !== null && last > targetMicros) break;
    await placeWal(dataDir, more.splice(0, MORE_BATCH), request.wal);
  }
  return dir;
}

export interface RecoverySettings {
  target: RecoveryTarget;
  /** The timeline to recover along: a number, or 'latest' to follow the newest history file placed. */
  timeline: Timeline | 'latest';
  binDir?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Makes the data directory recover from the placed WAL on its next start: `recovery.signal`, and in
 * postgresql.auto.conf (appended, so these lines win over the copied source's) the restore_command, the
 * target and `promote` at the end. A time target at or after the last commit (or abort) in the placed WAL is
 * dropped, recovering to the end: PostgreSQL would otherwise stop with "recovery ended before configured
 * recovery target was reached", although the end holds exactly that point. Returns the target written.
 */
export async function writeRecoverySettings(
  dataDir: string,
  settings: RecoverySettings,
): Promise<RecoveryTarget> {
  let { target } = settings;
  if (target.type === 'time') {
    const last = await lastTransactionMicros(dataDir, settings);
    if (last === null || BigInt(target.at.getTime()) * 1000n >= last) target = { type: 'latest' };
  }
  const lines = [
    '',
    '# Written by Tidemark for a point-in-time recovery from its WAL archive.',
    `restore_command = 'cp ${WAL_DIRECTORY}/%f "%p"'`,
    `recovery_target_timeline = '${String(settings.timeline)}'`,
    ...targetLines(target),
    "recovery_target_action = 'promote'",
    '',
  ];
  await appendFile(join(dataDir, 'postgresql.auto.conf'), lines.join('\n'), { mode: 0o600 });
  await writeFile(join(dataDir, 'recovery.signal'), '', { mode: 0o600 });
  return target;
}

function targetLines(target: RecoveryTarget): string[] {
  switch (target.type) {
    case 'immediate':
      return ["recovery_target = 'immediate'"];
    case 'lsn':
      return [`recovery_target_lsn = '${formatLsn(target.lsn)}'`];
    case 'time':
      return [`recovery_target_time = '${serverTime(target.at)}'`, "recovery_target_inclusive = 'on'"];
    case 'latest':
      return [];
  }
}

/** `2026-12-03 11:05:00.123+00`: PostgreSQL's check of recovery_target_time refuses ISO 8601's `T` and `Z`. */
function serverTime(at: Date): string {
  return `${at.toISOString().replace('T', ' ').replace('Z', '')}+00`;
}

/** `COMMIT 2026-12-03 11:05:00.123456 UTC` (or ABORT) in pg_waldump's description of a Transaction record. */
const TRANSACTION_TIME =
  /desc: (?:COMMIT|ABORT)(?:_PREPARED)?(?: \d+:)? (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))? UTC/;

/**
 * The time of the last commit or abort record in the placed segments, in microseconds since the epoch (null:
 * none). pg_waldump reads one timeline per run, so each timeline's run of segments is read on its own; it exits
 * non-zero at the end of the valid WAL, which is expected, so only its output counts.
 */
async function lastTransactionMicros(
  dataDir: string,
  settings: Pick<RecoverySettings, 'binDir' | 'env'>,
): Promise<bigint | null> {
  const walDir = join(dataDir, WAL_DIRECTORY);
  const tool = await findServerTool('pg_waldump', dataDir, {
    binDir: settings.binDir,
    env: settings.env ?? process.env,
  });
  // Segment names sort in WAL order within a timeline (the first 8 hex digits), whatever the segment size.
  const byTimeline = new Map<string, string[]>();
  const names = await readdir(walDir).catch(() => [] as string[]);
  for (const name of names.filter((entry) => /^[0-9A-F]{24}$/.test(entry)).sort()) {
    const timeline = name.slice(0, 8);
    byTimeline.set(timeline, [...(byTimeline.get(timeline) ?? []), name]);
  }
  let last: bigint | null = null;
  for (const run of byTimeline.values()) {
    const first = run[0] as string;
    const end = run.at(-1) as string;
    const found = await scanTransactionTimes(tool.path, ['--path', walDir, '--rmgr=Transaction', first, end]);
    if (found !== null && (last === null || found > last)) last = found;
  }
  return last;
}

async function scanTransactionTimes(path: string, args: string[]): Promise<bigint | null> {
  const child = spawn(path, args, {
    env: { PATH: process.env['PATH'], TZ: 'UTC', LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => {
      reject(new SourceError('restore-failed', `cannot run pg_waldump: ${err.message}`));
    });
  });
  let last: bigint | null = null;
  const reading = (async () => {
    for await (const line of createInterface({ input: child.stdout })) {
      const match = TRANSACTION_TIME.exec(line);
      if (!match) continue;
      const seconds = BigInt(Date.parse(`${match[1] as string}T${match[2] as string}Z`) / 1000);
      last = seconds * 1_000_000n + BigInt((match[3] ?? '0').padEnd(6, '0'));
    }
  })();
  await Promise.race([reading, failed]);
  return last;
}
