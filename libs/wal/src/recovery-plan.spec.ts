import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTimelineHistory } from './history';
import { parseLsn } from './lsn';
import type { PhysicalBackup } from './physical';
import {
  type ArchivedWal,
  type ArchiveState,
  type BaseBackupPoint,
  planRecovery,
  reachOf,
  RecoveryRefused,
  recoveryWindows,
} from './recovery-plan';
import { segmentFileName } from './segments';

const MiB16 = 16 * 1024 * 1024;
const t0 = Date.parse('2026-12-03T06:00:00.000Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000);

function seg(
  timeline: number,
  segno: number,
  minute: number,
  kind: ArchivedWal['kind'] = 'segment',
): ArchivedWal {
  return {
    timeline,
    file: segmentFileName({ timeline, segno: BigInt(segno) }),
    kind,
    receivedAt: at(minute),
  };
}

function base(
  id: string,
  startSeg: number,
  stopSeg: number,
  stoppedMinute: number,
  timeline = 1,
): BaseBackupPoint {
  const physical: PhysicalBackup = {
    startLsn: `0/${(startSeg * MiB16 + 40).toString(16).toUpperCase()}`,
    stopLsn: `0/${(stopSeg * MiB16 + 256).toString(16).toUpperCase()}`,
    timeline,
    startedAt: at(stoppedMinute - 1).toISOString(),
    stoppedAt: at(stoppedMinute).toISOString(),
    serverVersion: '15.10',
    systemIdentifier: '7441234567890123456',
    walSegmentBytes: MiB16,
    databases: ['postgres'],
    backupManifest: { 'PostgreSQL-Backup-Manifest-Version': 1 },
  };
  return { backupId: id, physical };
}

function state(files: ArchivedWal[], histories: [number, string][] = []): ArchiveState {
  return { files, histories: new Map(histories.map(([tl, text]) => [tl, parseTimelineHistory(text)])) };
}

describe('planRecovery', () => {
  // Segments 2..6 on timeline 1, received a minute apart from minute 2; a partial of 7.
  const archive = state([2, 3, 4, 5, 6].map((n) => seg(1, n, n)).concat(seg(1, 7, 8, 'partial')));
  const first = base('20261203T060100Z-aaaaaa', 2, 3, 3);

  it('rolls a base backup forward to the newest partial', () => {
    const reach = reachOf(first, archive);
    assert.equal(reach.consistent, true);
    assert.equal(reach.files.length, 6);
    assert.deepEqual(reach.to, at(8));
    assert.equal(reach.toLsn, parseLsn('0/7000000'));
  });

  it('fetches up to the segment holding the time and one more', () => {
    const plan = planRecovery({ type: 'time', at: at(4.5) }, [first], archive);
    assert.equal(plan.base.backupId, first.backupId);
    assert.deepEqual(
      plan.files.map((file) => file.file.slice(-2)),
      ['02', '03', '04', '05', '06'],
      'segment 05 (received at 5) holds 4.5; 06 follows',
    );
    assert.equal(planRecovery({ type: 'latest' }, [first], archive).files.at(-1)?.kind, 'partial');
    // Receive times bound a file's commits from above only: the rest of the reach comes as `more`, in order,
    // for the restore to fetch while the target is not yet inside the placed WAL.
    assert.deepEqual(
      plan.more.map((file) => [file.file.slice(-2), file.kind]),
      [['07', 'partial']],
    );
    assert.deepEqual(planRecovery({ type: 'latest' }, [first], archive).more, []);
  });

  it('refuses a time before the base backup ended or past the archive, naming the window', () => {
    assert.throws(
      () => planRecovery({ type: 'time', at: at(2) }, [first], archive),
      (err: unknown) =>
        err instanceof RecoveryRefused &&
        err.message ===
          '2026-12-03T06:02:00.000Z cannot be reached: restorable: 2026-12-03T06:03:00.000Z to 2026-12-03T06:08:00.000Z',
    );
    assert.throws(() => planRecovery({ type: 'time', at: at(9) }, [first], archive), RecoveryRefused);
  });

  it('picks the newest base backup that ended before the target', () => {
    const second = base('20261203T060500Z-bbbbbb', 5, 5, 5.5);
    assert.equal(
      planRecovery({ type: 'time', at: at(6) }, [first, second], archive).base.backupId,
      second.backupId,
    );
    assert.equal(
      planRecovery({ type: 'time', at: at(5) }, [first, second], archive).base.backupId,
      first.backupId,
    );
  });

  it('stops at a gap: the range behind it is refused, the one before it is not', () => {
    const gap = state([2, 3, 5, 6].map((n) => seg(1, n, n)));
    assert.deepEqual(recoveryWindows([first], gap), [{ from: at(3), to: at(3) }]);
    assert.throws(
      () => planRecovery({ type: 'time', at: at(5) }, [first], gap),
      /restorable: .*06:03:00.000Z to .*06:03:00.000Z/,
    );
    const missingStop = state([seg(1, 2, 2)]);
    assert.equal(reachOf(first, missingStop).consistent, false, 'the WAL to the stop LSN is missing');
    assert.throws(() => planRecovery({ type: 'latest' }, [first], missingStop), /no restorable point/);
  });

  it('follows a timeline switch, reading the switch segment from the new timeline, with its history file', () => {
    const history: ArchivedWal = {
      timeline: 2,
      file: '00000002.history',
      kind: 'history',
      receivedAt: at(5),
    };
    const switched = state(
      [seg(1, 2, 2), seg(1, 3, 3), seg(1, 4, 4.5), seg(2, 4, 5), seg(2, 5, 6), history],
      [[2, '1\t0/4800000\tno recovery target specified\n']],
    );
    const reach = reachOf(first, switched);
    assert.deepEqual(
      reach.files.map((file) => `${String(file.timeline)}:${file.file}`),
      [
        '2:00000002.history',
        `1:${segmentFileName({ timeline: 1, segno: 2n })}`,
        `1:${segmentFileName({ timeline: 1, segno: 3n })}`,
        `2:${segmentFileName({ timeline: 2, segno: 4n })}`,
        `2:${segmentFileName({ timeline: 2, segno: 5n })}`,
      ],
    );
    assert.equal(reach.timeline, 2);
    assert.equal(planRecovery({ type: 'lsn', lsn: parseLsn('0/5000010') }, [first], switched).timeline, 2);
  });
});
