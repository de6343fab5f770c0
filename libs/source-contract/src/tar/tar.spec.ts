import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { looksLikeTar, readTar, TarFormatError, type ReadTarOptions, type TarEntry } from './tar-reader';
import { TarWriter, type TarHeader } from './tar-writer';

const run = promisify(execFile);
const MTIME = new Date('2026-01-02T03:04:05Z');
const BLOCK = 512;
const drain: ReadTarOptions = { onError: 'drain' };

type Member = { header: TarHeader; body?: Buffer };

/** A tar made by the writer, collected while it is written. */
async function tarOf(members: Member[]): Promise<Buffer> {
  const writer = new TarWriter();
  const collected = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of writer.stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  })();
  for (const { header, body } of members) {
    if (body === undefined) {
      await writer.add(header);
      continue;
    }
    const entry = writer.open({ ...header, size: body.length });
    // Odd pieces, to cross the writer's block boundaries.
    for (let i = 0; i < body.length; i += 333) await entry.write(body.subarray(i, i + 333));
    await entry.end();
  }
  writer.finish();
  return collected;
}

const file = (name: string, text: string): Member => ({
  header: { name, type: 'file', mtime: MTIME },
  body: Buffer.from(text),
});

/** The input in `chunk`-byte pieces, counting how much of it was read. */
function pieces(bytes: Buffer, chunk: number): { stream: Readable; read: () => number } {
  let read = 0;
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += chunk) {
        const part = bytes.subarray(i, i + chunk);
        read += part.length;
        yield part;
      }
    })(),
  );
  return { stream, read: () => read };
}

interface Seen {
  name: string;
  type: TarEntry['type'];
  body: string;
  pax: Record<string, string>;
}

async function read(bytes: Buffer, chunk = 7): Promise<Seen[]> {
  const out: Seen[] = [];
  await readTar(
    pieces(bytes, chunk).stream,
    async (entry) => {
      const parts: Buffer[] = [];
      for await (const part of entry.body) parts.push(part);
      out.push({ name: entry.name, type: entry.type, body: Buffer.concat(parts).toString(), pax: entry.pax });
    },
    drain,
  );
  return out;
}

/** Asserts the bytes are refused with `message`, and read to their end all the same. */
async function refused(bytes: Buffer, message: string | RegExp): Promise<void> {
  const input = pieces(bytes, 600);
  await assert.rejects(
    readTar(
      input.stream,
      async (entry) => {
        for await (const _ of entry.body);
      },
      drain,
    ),
    (err: unknown) => {
      assert.ok(err instanceof TarFormatError, String(err));
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
  assert.equal(input.read(), bytes.length);
}

async function withDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-tar-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const longName = `${'d/'.repeat(60)}file.txt`;

describe('tar', () => {
  test('round trip in odd chunk sizes, and stock tar agrees', async () => {
    const tar = await tarOf([
      file('1234.dat', 'a'.repeat(700)),
      file('toc.dat', ''),
      { header: { name: 'dir', type: 'directory', mode: 0o750, mtime: MTIME } },
      { header: { name: 'dir/link', type: 'symlink', linkname: '../1234.dat', mtime: MTIME } },
      file(longName, 'long'),
      file('naïve/ünï.txt', 'utf-8'),
      {
        ...file('attrs.txt', 'x'),
        header: { name: 'attrs.txt', mtime: MTIME, pax: { 'SCHILY.xattr.user.k': 'v' } },
      },
    ]);
    assert.ok(looksLikeTar(tar));
    const seen = await read(tar);
    assert.deepEqual(
      seen.map(({ name, type, body }) => ({ name, type, body })),
      [
        { name: '1234.dat', type: 'file', body: 'a'.repeat(700) },
        { name: 'toc.dat', type: 'file', body: '' },
        { name: 'dir', type: 'directory', body: '' },
        { name: 'dir/link', type: 'symlink', body: '' },
        { name: longName, type: 'file', body: 'long' },
        { name: 'naïve/ünï.txt', type: 'file', body: 'utf-8' },
        { name: 'attrs.txt', type: 'file', body: 'x' },
      ],
    );
    // Long and non-ASCII names travel as pax `path` records, which keep them exactly.
    assert.equal(seen[4]?.pax['path'], longName);
    assert.equal(seen[6]?.pax['SCHILY.xattr.user.k'], 'v');
    assert.equal(await readTar(Readable.from([tar]), () => Promise.resolve(), drain), 7);
    await withDir(async (dir) => {
      await writeFile(join(dir, 'x.tar'), tar);
      const { stdout } = await run('tar', ['-tvf', join(dir, 'x.tar')]);
      assert.match(stdout, /^-rw-r--r-- 0\/0 +700 2026-01-02 \d\d:04 1234\.dat$/m);
      assert.match(stdout, /^drwxr-x--- .* dir$/m);
      assert.match(stdout, /^l.* dir\/link -> \.\.\/1234\.dat$/m);
      assert.match(stdout, new RegExp(`^-.* ${longName}$`, 'm'));
      assert.match(stdout, /^-.* naïve\/ünï\.txt$/m);
    });
  });

  test('sizes from 8 GiB up use the base-256 form that stock tar and the reader understand', async () => {
    const size = 9 * 1024 ** 3 + 5;
    const writer = new TarWriter();
    writer.open({ name: 'big.dat', type: 'file', size, mtime: MTIME });
    // Only the header: its size field, not 9 GiB of body.
    const header = await new Promise<Buffer>((resolve) => writer.stream.once('data', resolve));
    writer.stream.destroy();
    writer.destroy();
    assert.equal(header.length, BLOCK);
    assert.equal(header[124], 0x80);
    assert.equal(header.readBigUInt64BE(128), BigInt(size));
    // The reader must see the size and then find the body missing.
    await refused(Buffer.concat([header, Buffer.alloc(BLOCK)]), 'the archive is cut short in "big.dat"');
    await withDir(async (dir) => {
      await writeFile(join(dir, 'h.tar'), header);
      // GNU tar lists the member, then complains about the missing body.
      const listed = await run('tar', ['-tvf', join(dir, 'h.tar')]).catch(
        (err: unknown) => err as { stdout: string },
      );
      assert.match(listed.stdout, new RegExp(` ${size} .*big\\.dat`));
    });
  });

  test('trailing zero records are fine; a missing, cut or damaged end and bytes after it are not', async () => {
    const good = await tarOf([file('toc.dat', 'x'), file('1.dat', 'y'.repeat(600))]);
    assert.equal((await read(Buffer.concat([good, Buffer.alloc(8 * BLOCK)]))).length, 2);
    assert.equal((await read(await tarOf([]))).length, 0, 'an empty archive is whole');
    const end = good.length - 2 * BLOCK;
    await refused(good.subarray(0, end), 'the archive has no end-of-archive marker (truncated)');
    await refused(Buffer.alloc(0), 'the archive has no end-of-archive marker (truncated)');
    await refused(good.subarray(0, end + BLOCK), 'the archive is cut short in the end-of-archive blocks');
    await refused(good.subarray(0, end + 100), 'the archive is cut short in the end-of-archive blocks');
    await refused(Buffer.concat([good, Buffer.from('junk')]), 'there are bytes after the end of the archive');
    await refused(Buffer.concat([good, good]), 'there are bytes after the end of the archive');
    const garbage = Buffer.alloc(BLOCK, 0x41);
    await refused(Buffer.concat([good, garbage]), 'there are bytes after the end of the archive');
    // One zero block, then more: not an end marker, and not a header either.
    const lone = Buffer.concat([good.subarray(0, end + BLOCK), garbage, Buffer.alloc(2 * BLOCK)]);
    await refused(lone, 'the end-of-archive blocks are damaged');
    const skipped = Buffer.concat([good.subarray(0, end + BLOCK), good]);
    await refused(skipped, 'the end-of-archive blocks are damaged');
  });

  test('a body or header cut short names where; a bad checksum is a format error', async () => {
    const good = await tarOf([file('toc.dat', 'x'), file('1.dat', 'y'.repeat(600))]);
    const bodyAt = good.indexOf('yyyy');
    await refused(good.subarray(0, bodyAt + 10), 'the archive is cut short in "1.dat"');
    await refused(good.subarray(0, bodyAt + 700), 'the archive is cut short in the padding of "1.dat"');
    await refused(good.subarray(0, BLOCK * 2 + 100), 'the archive is cut short in a header');
    const damaged = Buffer.from(good);
    damaged[2 * BLOCK + 1] = 0x41; // inside the second member's name: its checksum no longer matches
    await refused(damaged, 'a tar header has a bad checksum');
    // Zero blocks inside a body are data, not an end marker.
    const zeros = await tarOf([{ header: { name: 'z', type: 'file' }, body: Buffer.alloc(5 * BLOCK) }]);
    assert.deepEqual(
      (await read(zeros, 1000)).map((e) => e.body.length),
      [5 * BLOCK],
    );
  });

  test("unread bodies are skipped; the visitor's and the input's own errors pass unchanged", async () => {
    const tar = await tarOf([file('a', 'a'.repeat(200_000)), file('b', 'b'), file('c', 'c')]);
    const names: string[] = [];
    const count = await readTar(
      pieces(tar, 100).stream,
      (entry) => {
        names.push(entry.name);
        return Promise.resolve();
      },
      drain,
    );
    assert.deepEqual([count, names], [3, ['a', 'b', 'c']]);

    const mine = new Error('visitor failed here');
    const drained = pieces(tar, 100);
    await assert.rejects(
      readTar(drained.stream, () => Promise.reject(mine), drain),
      (err) => err === mine,
    );
    assert.equal(drained.read(), tar.length, "'drain' reads the rest");
    const stopped = pieces(tar, 100);
    await assert.rejects(
      readTar(stopped.stream, () => Promise.reject(mine), { onError: 'destroy' }),
      (err) => err === mine,
    );
    assert.equal(stopped.stream.destroyed, true, "'destroy' stops the input");
    assert.ok(stopped.read() < tar.length);

    const broken = new Error('the download broke');
    const failing = Readable.from(
      (function* () {
        yield tar.subarray(0, 700);
        throw broken;
      })(),
    );
    await assert.rejects(
      readTar(
        failing,
        async (entry) => {
          for await (const _ of entry.body);
        },
        drain,
      ),
      (err) => err === broken,
    );
  });
});
