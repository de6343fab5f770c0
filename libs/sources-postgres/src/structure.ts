import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  countLines,
  describeFailure,
  feedTool,
  startTool,
  type StructureCheckResult,
  TarFormatError,
} from '@tidemark/source-contract';
import { inspectArchive } from './archive-input';
import type { PgContext } from './context';
import { readDumpTar } from './dump-tar';

const isEntry = (line: string): boolean => line.trim() !== '' && !line.startsWith(';');

/** `pg_restore --list` of a custom archive (from the stream) or of a directory archive's tar, reading every byte. */
export async function checkArchive(ctx: PgContext, input: Readable): Promise<StructureCheckResult> {
  const pgRestore = await ctx.tool('pg_restore', undefined);
  const archive = await inspectArchive(input, { scan: false });
  if (archive.kind === 'tar') return checkTar(ctx, archive.stream, pgRestore.path, pgRestore.label);
  // --list reads only the archive's table of contents, so it needs no connection parameters.
  const tool = startTool(pgRestore.path, ['--list'], ctx.toolEnv(undefined), { stdin: true, stdout: true });
  if (!tool.stdout) throw new Error('pg_restore was started without a stdout pipe');
  const entries = countLines(tool.stdout, isEntry);
  entries.catch(() => undefined);
  await feedTool(archive.stream, tool);
  const exit = await tool.exit;
  const count = await entries.catch(() => 0);
  const label = pgRestore.label;
  if (exit.code !== 0)
    return { ok: false, tool: label, entries: count, detail: ctx.clean(describeFailure('pg_restore', exit)) };
  if (count === 0) return { ok: false, tool: label, entries: 0, detail: 'the archive lists no entries' };
  return { ok: true, tool: label, entries: count };
}

/**
 * A directory archive: the tar must be whole, toc.dat must list cleanly, and every data entry it lists must have its
 * file in the tar. Only toc.dat touches the disk; data files are read through and counted.
 */
async function checkTar(
  ctx: PgContext,
  input: Readable,
  pgRestore: string,
  label: string,
): Promise<StructureCheckResult> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-pgd-toc-'));
  try {
    const members = new Set<string>();
    try {
      await readDumpTar(input, async (member) => {
        members.add(member.name);
        if (member.name !== 'toc.dat') {
          // Read through (the tar's framing is checked), not kept.
          for await (const _chunk of member.body);
          return;
        }
        const file = await open(join(dir, 'toc.dat'), 'wx', 0o600);
        try {
          for await (const chunk of member.body) await file.write(chunk);
        } finally {
          await file.close();
        }
      });
    } catch (err) {
      if (err instanceof TarFormatError)
        return { ok: false, tool: label, entries: 0, detail: `the tar is damaged: ${err.message}` };
      throw err;
    }
    if (!members.has('toc.dat'))
      return { ok: false, tool: label, entries: 0, detail: 'the tar holds no toc.dat' };
    const tool = startTool(pgRestore, ['--list', '-Fd', dir], ctx.toolEnv(undefined), {
      stdin: false,
      stdout: true,
    });
    if (!tool.stdout) throw new Error('pg_restore was started without a stdout pipe');
    const missing: string[] = [];
    let count = 0;
    const listed = countLines(tool.stdout, (line) => {
      if (!isEntry(line)) return false;
      count++;
      const lack = missingFile(line, members);
      if (lack) missing.push(lack);
      return true;
    });
    listed.catch(() => undefined);
    const exit = await tool.exit;
    await listed.catch(() => 0);
    if (exit.code !== 0)
      return {
        ok: false,
        tool: label,
        entries: count,
        detail: ctx.clean(describeFailure('pg_restore', exit)),
      };
    if (count === 0) return { ok: false, tool: label, entries: 0, detail: 'the archive lists no entries' };
    if (missing.length > 0) {
      const shown =
        missing.slice(0, 5).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
      return { ok: false, tool: label, entries: count, detail: `the tar lacks ${shown}` };
    }
    return { ok: true, tool: label, entries: count };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The file a data entry of the listing needs, when the tar does not have it. */
function missingFile(line: string, members: Set<string>): string | undefined {
  const match = /^(\d+); \d+ \d+ (TABLE DATA|BLOBS) /.exec(line);
  if (!match) return undefined;
  const id = match[1] ?? '';
  if (match[2] === 'TABLE DATA') return members.has(`${id}.dat`) ? undefined : `${id}.dat`;
  // Large objects: blobs.toc up to PostgreSQL 16, blobs_<id>.toc from 17 on.
  return members.has('blobs.toc') || members.has(`blobs_${id}.toc`) ? undefined : 'blobs.toc';
}
