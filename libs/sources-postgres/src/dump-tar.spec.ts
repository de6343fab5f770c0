import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { TarFormatError, type TarHeader, TarWriter } from '@tidemark/source-contract';
import { isSafeMemberName, readDumpTar } from './dump-tar';

async function tarOf(members: { header: TarHeader; body: string }[]): Promise<Buffer> {
  const writer = new TarWriter();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of writer.stream as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  for (const { header, body } of members) {
    if (header.type === 'directory') await writer.add(header);
    else {
      const entry = writer.open({ ...header, size: body.length });
      await entry.write(Buffer.from(body));
      await entry.end();
    }
  }
  writer.finish();
  await collected;
  return Buffer.concat(chunks);
}

/** Reads in two pieces, counting what was read: a refused archive is still read to its end. */
async function readAll(bytes: Buffer): Promise<{ members: string[]; consumed: number }> {
  let consumed = 0;
  const input = Readable.from(
    (function* () {
      for (const chunk of [bytes.subarray(0, 600), bytes.subarray(600)]) {
        consumed += chunk.length;
        yield chunk;
      }
    })(),
  );
  const members: string[] = [];
  try {
    await readDumpTar(input, async (member) => {
      members.push(member.name);
      for await (const _ of member.body);
    });
  } finally {
    assert.equal(consumed, bytes.length);
  }
  return { members, consumed };
}

describe('pg_dump directory tar', () => {
  test("pg_dump's member names are accepted, nothing with a path", () => {
    for (const name of ['toc.dat', '1234.dat', 'blobs.toc', 'blobs_5.toc', 'blob_17.dat'])
      assert.ok(isSafeMemberName(name), name);
    for (const name of ['../etc/passwd', 'a/b.dat', '.hidden', '', 'x'.repeat(101)])
      assert.ok(!isSafeMemberName(name), name);
  });

  test('reads the members of a whole archive', async () => {
    const tar = await tarOf([
      { header: { name: '1234.dat', type: 'file' }, body: 'rows' },
      { header: { name: 'toc.dat', type: 'file' }, body: 'toc' },
    ]);
    assert.deepEqual((await readAll(tar)).members, ['1234.dat', 'toc.dat']);
  });

  test('a path, a second copy or a non-file member is a format error, read to the end', async () => {
    const cases: [{ header: TarHeader; body: string }[], string][] = [
      [
        [{ header: { name: '../x.dat', type: 'file' }, body: 'x' }],
        'tar member "../x.dat" has an unexpected name',
      ],
      [
        [
          { header: { name: 'toc.dat', type: 'file' }, body: 'x' },
          { header: { name: 'toc.dat', type: 'file' }, body: 'y' },
        ],
        'tar member "toc.dat" appears twice',
      ],
      [[{ header: { name: 'sub', type: 'directory' }, body: '' }], 'tar member "sub" is not a regular file'],
    ];
    for (const [members, message] of cases) {
      await assert.rejects(readAll(await tarOf(members)), (err: unknown) => {
        assert.ok(err instanceof TarFormatError);
        assert.equal(err.message, message);
        return true;
      });
    }
  });
});
