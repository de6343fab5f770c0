import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import type { Part } from '@tidemark/manifest';
import {
  BatchingStream,
  ChecksumMismatchError,
  createCompressor,
  createDecompressor,
  hashWhileFeeding,
  PartWriter,
  VerifiedStream,
} from './index';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('PartWriter', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parts-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('splits a stream into parts of the given size, in order, with per-part and whole checksums', async () => {
    const data = randomBytes(2_500_000);
    const seen: Part[] = [];
    const writer = new PartWriter({
      dir,
      fileName: (n) => `a.part-${n}`,
      partSize: 1_000_000,
      onPart: async (part) => {
        seen.push(part);
        await Promise.resolve();
      },
    });
    await pipeline(Readable.from([data.subarray(0, 700_000), data.subarray(700_000)]), writer);
    assert.deepEqual(
      seen.map((p) => p.size),
      [1_000_000, 1_000_000, 500_000],
    );
    assert.equal(writer.sha256(), sha(data));
    assert.equal(writer.bytes, data.length);
    const joined = Buffer.concat(await Promise.all(seen.map((p) => readFile(join(dir, p.file)))));
    assert.ok(joined.equals(data));
    for (const part of seen) {
      assert.equal(part.sha256, sha(await readFile(join(dir, part.file))));
      assert.equal((await stat(join(dir, part.file))).mode & 0o777, 0o600);
    }
  });

  test('refuses to overwrite an existing part file', async () => {
    const writer = new PartWriter({
      dir,
      fileName: (n) => `a.part-${n}`,
      partSize: 10,
      onPart: () => Promise.resolve(),
    });
    await assert.rejects(pipeline(Readable.from([Buffer.from('x')]), writer), /EEXIST/);
  });

  test('an empty stream still yields one (empty) part', async () => {
    const writer = new PartWriter({
      dir,
      fileName: (n) => `empty.part-${n}`,
      partSize: 10,
      onPart: () => Promise.resolve(),
    });
    await pipeline(Readable.from([]), writer);
    assert.equal(writer.parts.length, 1);
    assert.equal(writer.parts[0]?.size, 0);
  });
});

describe('compression', () => {
  for (const compression of ['zstd', 'gzip', 'none'] as const) {
    test(`${compression} round-trips`, async () => {
      const data = Buffer.from('tidemark '.repeat(100_000));
      const chunks: Buffer[] = [];
      const sink = new PassThrough();
      sink.on('data', (c: Buffer) => chunks.push(c));
      await pipeline(
        Readable.from([data]),
        createCompressor(compression),
        createDecompressor(compression),
        sink,
      );
      assert.ok(Buffer.concat(chunks).equals(data));
    });
  }
});

describe('BatchingStream', () => {
  test('joins small chunks into chunks of at least the batch size, the last one the rest, bytes unchanged', async () => {
    const data = randomBytes(10_000);
    const pieces = [...Array(100).keys()].map((i) => data.subarray(i * 100, (i + 1) * 100));
    const out: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => out.push(c));
    await pipeline(Readable.from(pieces), new BatchingStream(3000), sink);
    assert.deepEqual(
      out.map((c) => c.length),
      [3000, 3000, 3000, 1000],
    );
    assert.ok(Buffer.concat(out).equals(data));
  });

  test('passes a chunk as large as the batch on as it is, and an empty stream as nothing', async () => {
    const big = randomBytes(5000);
    const out: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => out.push(c));
    await pipeline(Readable.from([big]), new BatchingStream(3000), sink);
    assert.equal(out.length, 1);
    assert.equal(out[0], big);
    const none: Buffer[] = [];
    const empty = new PassThrough();
    empty.on('data', (c: Buffer) => none.push(c));
    await pipeline(Readable.from([]), new BatchingStream(3000), empty);
    assert.deepEqual(none, []);
  });
});

describe('VerifiedStream', () => {
  test('passes everything through when the checksum matches', async () => {
    const data = randomBytes(300_000);
    const out: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => out.push(c));
    await pipeline(
      Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
      new VerifiedStream(sha(data)),
      sink,
    );
    assert.ok(Buffer.concat(out).equals(data));
  });

  test('withholds the last chunk and fails on a mismatch', async () => {
    const data = randomBytes(3000);
    const out: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => out.push(c));
    await assert.rejects(
      pipeline(
        Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
        new VerifiedStream('0'.repeat(64)),
        sink,
      ),
      (error: unknown) => error instanceof ChecksumMismatchError && error.bytes === 3000,
    );
    assert.equal(Buffer.concat(out).length, 1000);
  });
});

describe('hashWhileFeeding', () => {
  test('hashes the whole source even when the sink fails midway', async () => {
    const good = Buffer.from('tidemark '.repeat(10_000));
    const compressed: Buffer[] = [];
    const collect = new PassThrough();
    collect.on('data', (c: Buffer) => compressed.push(c));
    await pipeline(Readable.from([good]), createCompressor('zstd'), collect);
    const blob = Buffer.concat(compressed);
    const middle = Math.floor(blob.length / 2);
    blob[middle] = (blob[middle] ?? 0) ^ 0xff;
    const sink = createDecompressor('zstd');
    sink.resume();
    const result = await hashWhileFeeding(Readable.from([blob.subarray(0, 10), blob.subarray(10)]), sink);
    assert.equal(result.sha256, sha(blob));
    assert.equal(result.bytes, blob.length);
    assert.ok(result.sinkError, 'the damaged zstd frame is detected');
  });
});
