import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Readable } from 'node:stream';
import { TarFormatError, TarWriter } from '@tidemark/source-contract';
import { manifestWalRange, parseBackupLabel, readBaseTar } from './base-tar';

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
