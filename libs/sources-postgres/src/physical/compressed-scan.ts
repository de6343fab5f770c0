import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describeFailure, startTool, TarFormatError } from '@tidemark/source-contract';
import {
  LABEL,
  LABEL_LIMIT,
  MANIFEST,
  MANIFEST_LIMIT,
  parseBackupLabel,
  parseBackupManifest,
  PG_CONTROL,
  type BaseTarSummary,
} from './base-tar';

export interface CompressedScan {
  summary: BaseTarSummary;
  /** The tar's size as GNU tar read it: whole 10 KiB records, so up to 10 KiB above the exact size. */
  rawBytes: number;
}

/**
 * The dump's look into a tar pg_basebackup compressed itself: GNU tar (zstd in C) unpacks backup_label,
 * backup_manifest and global/pg_control from a copy of the stream into `dir` (which must exist). Node never decompresses the tar:
 * zlib's streaming zstd took 1.3 s of CPU and ~1 s of garbage collection per GiB of output in Node 24, against
 * 0.7 s for tar and zstd together. Attach in the same tick as the stream's other reader (both set the pace).
 * Settles once tar has read the stream to its end; a damaged stream or a missing member is a TarFormatError.
 */
export async function scanCompressedBaseTar(
  stream: Readable,
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<CompressedScan> {
  const tool = startTool(
    'tar',
    ['--zstd', '-x', '--totals', '--no-same-owner', '-f', '-', '-C', dir, LABEL, MANIFEST, PG_CONTROL],
    env,
    { stdin: true, stdout: false },
  );
  const stdin = tool.stdin;
  if (!stdin) throw new Error('tar was started without a stdin pipe');
  // Piped before the first await, so no chunk passes unseen.
  stream.pipe(stdin);
  const exit = await tool.exit;
  if (exit.code !== 0)
    throw new TarFormatError(`the compressed base backup tar is unreadable: ${describeFailure('tar', exit)}`);
  const totals = /^Total bytes read: (\d+)/m.exec(exit.stderr);
  const member = async (name: string, limit: number): Promise<string> => {
    const path = join(dir, name);
    const { size } = await stat(path);
    if (size > limit) throw new TarFormatError(`tar member "${name}" is ${size} bytes, more than ${limit}`);
    return readFile(path, 'utf8');
  };
  return {
    summary: {
      // Not counted here: only a restore's structure check reports the tar's entries.
      entries: 0,
      label: parseBackupLabel(await member(LABEL, LABEL_LIMIT)),
      manifest: parseBackupManifest(await member(MANIFEST, MANIFEST_LIMIT)),
      hasPgControl: true,
    },
    rawBytes: Number(totals?.[1] ?? 0),
  };
}
