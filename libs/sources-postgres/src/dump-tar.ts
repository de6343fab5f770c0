import type { Readable } from 'node:stream';
import { readTar, TarFormatError } from '@tidemark/source-contract';

/** Names a member may have: what pg_dump -Fd writes (toc.dat, 1234.dat, blobs.toc, blob_5.dat), nothing with a path. */
export function isSafeMemberName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/.test(name);
}

export interface DumpMember {
  name: string;
  size: number;
  /** The member's bytes; whatever is left unread is skipped. */
  body: AsyncIterable<Buffer>;
}

/**
 * Reads a pg_dump directory's tar to its end, handing each member to `onMember`. Besides what makes any tar whole,
 * every member must be a regular file named like pg_dump's files, and appear once: anything else is a
 * TarFormatError, as is a damaged or truncated archive, and the input is then still read to its end.
 */
export async function readDumpTar(
  input: Readable,
  onMember: (member: DumpMember) => Promise<void>,
): Promise<number> {
  const seen = new Set<string>();
  return readTar(
    input,
    async ({ name, type, size, body }) => {
      if (type !== 'file') throw new TarFormatError(`tar member "${name}" is not a regular file`);
      if (!isSafeMemberName(name)) throw new TarFormatError(`tar member "${name}" has an unexpected name`);
      if (seen.has(name)) throw new TarFormatError(`tar member "${name}" appears twice`);
      seen.add(name);
      await onMember({ name, size, body });
    },
    { onError: 'drain' },
  );
}
