import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { BLOCK, fileHeader, padding, readTar, TAR_END, TarFormatError } from './tar';

const run = promisify(execFile);
const MTIME = new Date('2026-01-02T03:04:05Z');

function member(name: string, body: Buffer): Buffer[] {
  return [fileHeader(name, body.length, MTIME), body, padding(body.length)];
}

async function read(bytes: Buffer, chunk = 7): Promise<{ name: string; body: string }[]> {
  const out: { name: string; body: string }[] = [];
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  await readTar(Readable.from(chunks), async (m) => {
    const parts: Buffer[] = [];
    for await (const part of m.body) parts.push(part);
    out.push({ name: m.name, body: Buffer.concat(parts).toString() });
  });
  return out;
}

describe('tar', () => {
  test('round trip in odd chunk sizes, and stock tar agrees', async () => {
    const tar = Buffer.concat([
      ...member('1234.dat', Buffer.from('a'.repeat(700))),
      ...member('toc.dat', Buffer.alloc(0)),
      TAR_END,
    ]);
    assert.deepEqual(await read(tar), [
      { name: '1234.dat', body: 'a'.repeat(700) },
      { name: 'toc.dat', body: '' },
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'tidemark-tar-'));
    try {
      await writeFile(join(dir, 'x.tar'), tar);
      const { stdout } = await run('tar', ['-tvf', join(dir, 'x.tar')]);
      assert.match(stdout, /^-rw-r--r-- 0\/0 +700 2026-01-02 \d\d:04 1234\.dat$/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('sizes from 8 GiB up use the base-256 form that stock tar and the reader understand', async () => {
    const size = 9 * 1024 ** 3 + 5;
    const header = fileHeader('big.dat', size, MTIME);
    // Only the header: the reader must see the size and then find the body missing.
    await assert.rejects(read(Buffer.concat([header, Buffer.alloc(BLOCK)])), (err: unknown) => {
      assert.ok(err instanceof TarFormatError);
      assert.equal(err.message, 'the archive is cut short in "big.dat"');
      return true;
    });
    const dir = await mkdtemp(join(tmpdir(), 'tidemark-tar-'));
    try {
      await writeFile(join(dir, 'h.tar'), header);
      // GNU tar lists the member, then complains about the missing body.
      const listed = await run('tar', ['-tvf', join(dir, 'h.tar')]).catch(
        (err: unknown) => err as { stdout: string },
      );
      assert.match(listed.stdout, new RegExp(` ${size} .*big\\.dat`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('trailing zero records are fine; anything else is a format error, read to the end', async () => {
    const good = Buffer.concat([...member('toc.dat', Buffer.from('x')), TAR_END]);
    assert.equal((await read(Buffer.concat([good, Buffer.alloc(8 * BLOCK)]))).length, 1);
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([good, Buffer.from('junk')]), /bytes after the end/],
      [good.subarray(0, good.length - BLOCK), /cut short in the end-of-archive blocks/],
      [
        Buffer.concat([
          ...member('toc.dat', Buffer.from('x')),
          ...member('toc.dat', Buffer.from('y')),
          TAR_END,
        ]),
        /appears twice/,
      ],
    ];
    for (const [bytes, message] of cases) {
      let consumed = 0;
      const counted = Readable.from(
        (function* () {
          for (const chunk of [bytes.subarray(0, 600), bytes.subarray(600)]) {
            consumed += chunk.length;
            yield chunk;
          }
        })(),
      );
      await assert.rejects(
        readTar(counted, async (m) => {
          for await (const _ of m.body);
        }),
        message,
      );
      assert.equal(consumed, bytes.length);
    }
  });

  test('names with a path are refused, when written and when read', async () => {
    assert.throws(() => fileHeader('../etc/passwd', 1, MTIME), /cannot store/);
    const header = fileHeader('ok.dat', 1, MTIME);
    header.write('../x.dat', 0, 100, 'ascii');
    // Recompute the checksum so only the name is wrong.
    header.fill(' ', 148, 156);
    header.write(
      `${header
        .reduce((a, b) => a + b, 0)
        .toString(8)
        .padStart(6, '0')}\0 `,
      148,
      8,
      'ascii',
    );
    await assert.rejects(read(Buffer.concat([header, Buffer.alloc(BLOCK), TAR_END])), /unexpected name/);
  });
});
