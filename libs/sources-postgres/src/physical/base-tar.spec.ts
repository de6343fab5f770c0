import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PassThrough, Readable } from 'node:stream';
import { TarFormatError, TarWriter } from '@tidemark/source-contract';
import {
  BaseTarScanner,
  manifestWalRange,
  parseBackupLabel,
  readBaseTar,
  scanBaseTar,
  type BaseTarSummary,
} from './base-tar';

const LABEL = [
  'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)',
  'CHECKPOINT LOCATION: 0/2000060',
  'BACKUP METHOD: streamed',
  'BACKUP FROM: primary',
  'START TIME: 2026-12-03 09:10:11 UTC',
  'LABEL: pg_basebackup base backup',
  'START TIMELINE: 1',
  '',
].join('\n');

describe('base backup tar parsing', () => {
  test('backup_label gives the start LSN, timeline and time', () => {
    assert.deepEqual(parseBackupLabel(LABEL), {
      startLsn: '0/2000028',
      timeline: 1,
      startTime: '2026-12-03 09:10:11 UTC',
    });
    assert.throws(() => parseBackupLabel('START TIMELINE: 1\n'), TarFormatError);
    assert.throws(
      () => parseBackupLabel(LABEL.replace('START TIMELINE: 1', 'START TIMELINE: x')),
      TarFormatError,
    );
  });

  test("the manifest's WAL range is the one of the backup's timeline", () => {
    const manifest = {
      'WAL-Ranges': [
        { Timeline: 1, 'Start-LSN': '0/2000028', 'End-LSN': '0/2000100' },
        { Timeline: 2, 'Start-LSN': '0/3000000', 'End-LSN': '0/3000100' },
      ],
    };
    assert.deepEqual(manifestWalRange(manifest, 2), { startLsn: '0/3000000', stopLsn: '0/3000100' });
    assert.throws(() => manifestWalRange(manifest, 3), /no WAL range for timeline 3/);
    assert.throws(() => manifestWalRange({}, 1), /no WAL-Ranges/);
  });

  test('readBaseTar keeps backup_label and backup_manifest, notes pg_control and counts members', async () => {
    const writer = new TarWriter();
    const bytes = (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of writer.stream as AsyncIterable<Buffer>) chunks.push(chunk);
      return Buffer.concat(chunks);
    })();
    const member = async (name: string, body: Buffer): Promise<void> => {
      const entry = writer.open({ name, size: body.length, type: 'file' });
      await entry.write(body);
      await entry.end();
    };
    await member('backup_label', Buffer.from(LABEL));
    await member('global/pg_control', Buffer.from('ctrl'));
    await member(
      'backup_manifest',
      Buffer.from(JSON.stringify({ 'PostgreSQL-Backup-Manifest-Version': 1, Files: [] })),
    );
    writer.finish();
    const summary = await readBaseTar(Readable.from([await bytes]));
    assert.equal(summary.entries, 3);
    assert.equal(summary.hasPgControl, true);
    assert.equal(summary.label?.timeline, 1);
    assert.deepEqual(summary.manifest, { 'PostgreSQL-Backup-Manifest-Version': 1, Files: [] });
  });
});

const MANIFEST_JSON = { 'PostgreSQL-Backup-Manifest-Version': 1, Files: [{ Path: 'base/1/1259' }] };

/** A tar like pg_basebackup's: label first, data files of odd sizes, a directory, a long name, manifest last. */
async function baseTar(extra: { name: string; body: Buffer }[] = []): Promise<Buffer> {
  const writer = new TarWriter();
  const bytes = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of writer.stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  })();
  const member = async (name: string, body: Buffer): Promise<void> => {
    const entry = writer.open({ name, size: body.length, type: 'file' });
    await entry.write(body);
    await entry.end();
  };
  await member('backup_label', Buffer.from(LABEL));
  await writer.open({ name: 'base/1', type: 'directory', size: 0 }).end();
  // A body that looks like a tar header and like end-of-archive zeros: the scanner must skip it by its size.
  await member(
    'base/1/1259',
    Buffer.concat([Buffer.alloc(1024), Buffer.from('ustar\0'), Buffer.alloc(1500, 7)]),
  );
  await member(`base/1/${'long-name-'.repeat(14)}`, Buffer.from('x'.repeat(513)));
  await member('global/pg_control', Buffer.from('ctrl'));
  for (const { name, body } of extra) await member(name, body);
  await member('backup_manifest', Buffer.from(JSON.stringify(MANIFEST_JSON)));
  writer.finish();
  return bytes;
}

function scanChunks(chunks: Buffer[]): BaseTarSummary {
  const scanner = new BaseTarScanner();
  for (const chunk of chunks) scanner.observe(chunk);
  return scanner.finish();
}

const EXPECTED = {
  entries: 6,
  hasPgControl: true,
  label: { startLsn: '0/2000028', timeline: 1, startTime: '2026-12-03 09:10:11 UTC' },
  manifest: MANIFEST_JSON,
};

describe('BaseTarScanner (the dump reads the tar in passing)', () => {
  test('finds label, manifest and pg_control however the stream is cut into chunks', async () => {
    const tar = await baseTar();
    assert.deepEqual(await readBaseTar(Readable.from([tar])), EXPECTED);
    for (let cut = 0; cut <= tar.length; cut++)
      assert.deepEqual(scanChunks([tar.subarray(0, cut), tar.subarray(cut)]), EXPECTED, `cut at ${cut}`);
    const bytes = [...tar].map((_, at) => tar.subarray(at, at + 1));
    assert.deepEqual(scanChunks(bytes), EXPECTED);
    for (const size of [7, 511, 512, 513, 1000, 4096]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < tar.length; at += size) chunks.push(tar.subarray(at, at + size));
      assert.deepEqual(scanChunks(chunks), EXPECTED, `chunks of ${size}`);
    }
  });

  test('a tar cut short anywhere is a TarFormatError', async () => {
    const tar = await baseTar();
    for (let end = 0; end < tar.length; end += 97)
      assert.throws(() => scanChunks([tar.subarray(0, end)]), TarFormatError, `cut at ${end}`);
    // The end-of-archive blocks belong to the archive: a cut inside them is a cut too.
    assert.throws(() => scanChunks([tar.subarray(0, tar.length - 1)]), /cut short/);
    assert.throws(() => scanChunks([tar.subarray(0, tar.length - 1024)]), /no end-of-archive marker/);
  });

  test('a damaged header, damaged end blocks and bytes after the end are TarFormatErrors', async () => {
    const tar = await baseTar();
    const flipped = Buffer.from(tar);
    flipped[3] = (flipped[3] ?? 0) ^ 1; // in backup_label's name
    assert.throws(() => scanChunks([flipped]), /bad checksum/);
    const after = Buffer.concat([tar, Buffer.from('junk')]);
    assert.throws(() => scanChunks([after]), /bytes after the end/);
    const damaged = Buffer.from(tar);
    damaged[findEndMarker(tar) + 512 + 9] = 1;
    assert.throws(() => scanChunks([damaged]), /end-of-archive blocks are damaged/);
  });

  test('a backup_label larger than any real one is refused, not kept', async () => {
    const tar = await baseTar([{ name: 'backup_label', body: Buffer.alloc(65 * 1024, 0x41) }]);
    assert.throws(() => scanChunks([tar]), /"backup_label" is 66560 bytes, more than 65536/);
  });

  test('scanBaseTar reads the stream beside its consumer, which gets every byte unchanged', async () => {
    const tar = await baseTar();
    const input = Readable.from(
      [...Array(Math.ceil(tar.length / 333)).keys()].map((i) => tar.subarray(i * 333, (i + 1) * 333)),
    );
    const scanned = scanBaseTar(input);
    const out = new PassThrough();
    input.pipe(out);
    const copied: Buffer[] = [];
    for await (const chunk of out as AsyncIterable<Buffer>) copied.push(chunk);
    assert.deepEqual(Buffer.concat(copied), tar);
    assert.deepEqual(await scanned, EXPECTED);
  });

  test('scanBaseTar rejects when the stream fails or closes before the end of the tar', async () => {
    const tar = await baseTar();
    const failing = new PassThrough();
    const failed = scanBaseTar(failing);
    failing.write(tar.subarray(0, 3000));
    failing.destroy(new Error('pipe broke'));
    await assert.rejects(failed, /pipe broke/);
    const closing = new PassThrough();
    const closed = scanBaseTar(closing);
    closing.write(tar.subarray(0, 3000));
    closing.destroy();
    await assert.rejects(closed, /closed before its end/);
  });
});

/** Where the two zero blocks after the last member start. */
function findEndMarker(tar: Buffer): number {
  const zero = Buffer.alloc(1024);
  for (let at = 0; at + 1024 <= tar.length; at += 512)
    if (tar.subarray(at, at + 1024).equals(zero) && tar.subarray(at + 1024).every((byte) => byte === 0))
      return at;
  throw new Error('no end marker');
}
