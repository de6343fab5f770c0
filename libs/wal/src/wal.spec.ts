import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatLsn,
  historyBlobName,
  parseHistoryFileName,
  parseLsn,
  parseSegmentFileName,
  parseTimelineHistory,
  parseWalBlobName,
  partialBlobName,
  readWalBlobMetadata,
  segmentBlobName,
  segmentFileName,
  segmentOf,
  timelineAt,
  walBlobMetadata,
} from './index';

describe('WAL positions and names', () => {
  it('parses and prints LSNs across the 4 GiB boundary', () => {
    assert.equal(parseLsn('0/16B3748'), 0x16b3748n);
    assert.equal(parseLsn('1/0'), 0x100000000n);
    assert.equal(formatLsn(0x1_0000_0028n), '1/28');
    assert.throws(() => parseLsn('0-16'), /"0-16" is not a WAL position/);
  });

  it('names segments as PostgreSQL does, for 16 MiB and other segment sizes', () => {
    const segment = segmentOf(parseLsn('1/A0000028'), 2);
    assert.equal(segmentFileName(segment), '0000000200000001000000A0');
    assert.deepEqual(parseSegmentFileName('0000000200000001000000A0'), segment);
    assert.equal(segmentFileName(segmentOf(parseLsn('0/3000000'), 1, 64 << 20)), '000000010000000000000000');
    assert.equal(
      parseSegmentFileName('000000010000000000000100'),
      null,
      'only 256 segments of 16 MiB per id',
    );
    assert.equal(parseSegmentFileName('00000002.history'), null);
    assert.equal(parseHistoryFileName('00000002.history'), 2);
  });

  it('lays WAL out under <target>/wal/<timeline>/ and reads the names back', () => {
    assert.equal(
      segmentBlobName('orders', 1, '000000010000000000000003'),
      'orders/wal/00000001/000000010000000000000003.zst',
    );
    assert.deepEqual(parseWalBlobName(partialBlobName('orders', 1, '000000010000000000000004')), {
      targetId: 'orders',
      timeline: 1,
      file: '000000010000000000000004',
      kind: 'partial',
      encrypted: false,
    });
    const sealed = segmentBlobName('orders', 1, '000000010000000000000004', true);
    assert.equal(sealed, 'orders/wal/00000001/000000010000000000000004.zst.age');
    assert.equal(parseWalBlobName(sealed)?.encrypted, true);
    assert.equal(parseWalBlobName(sealed)?.kind, 'segment');
    const sealedPartial = partialBlobName('orders', 1, '000000010000000000000004', true);
    assert.equal(sealedPartial, 'orders/wal/00000001/000000010000000000000004.partial.zst.age');
    assert.equal(parseWalBlobName(sealedPartial)?.kind, 'partial');
    // A history file holds no data and is never encrypted.
    assert.equal(parseWalBlobName(`${historyBlobName('orders', 2)}.age`), null);
    assert.equal(parseWalBlobName(historyBlobName('orders', 2))?.kind, 'history');
    assert.equal(parseWalBlobName('orders/20261121T020000Z-k3f9xq/manifest.json'), null);
  });

  it('follows a timeline history to the timeline holding an LSN', () => {
    const history = parseTimelineHistory(
      '1\t0/5000000\tno recovery target specified\n\n2\t0/9000000\tbefore 2026\n',
    );
    assert.equal(timelineAt(parseLsn('0/4FFFFFF'), 3, history), 1);
    assert.equal(timelineAt(parseLsn('0/5000000'), 3, history), 2);
    assert.equal(timelineAt(parseLsn('0/9000000'), 3, history), 3);
  });

  it('keeps metadata as strings and refuses blobs Tidemark did not write', () => {
    const stored = walBlobMetadata({
      sha256: 'a'.repeat(64),
      size: 16777216,
      receivedat: '2026-12-03T07:00:00.000Z',
      timeline: 1,
      route: 'stream',
    });
    assert.equal(stored['size'], '16777216');
    assert.equal(readWalBlobMetadata(stored)?.size, 16777216);
    assert.equal(readWalBlobMetadata({ size: '1' }), null);
  });
});
