import assert from 'node:assert/strict';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isLastAttempt, JOBS, parseJob } from '@tidemark/queues';
import { SourceError } from '@tidemark/source-kinds';
import { PG_BIN, startScratchCluster, type ScratchCluster } from '@tidemark/testing';
import {
  parseLsn,
  parseSegmentFileName,
  segmentFileName,
  segmentOf,
  type PhysicalBackup,
} from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { StageHarness } from '../stage-harness';
import type { JobHandlers } from '../sync-job-queues';

// A physical target whose restore test recovers the base backup from the target's WAL archive (in the harness's
// in-memory store). The archive is filled from the cluster's own pg_wal, as the archiver would fill it.
const CONFIG = `
storage: { container: unit }
local: { path: __LOCAL__, minFreeBytes: 0 }
policies:
  proven:
    schedule: "0 3 * * *"
    verify: { restoreTest: true }
targets:
  - { id: cluster, kind: postgres, method: physical, url: "\${CLUSTER_URL}", policy: proven }
`;

describe('verifying a physical backup with a restore test that replays the WAL archive', () => {
  let cluster: ScratchCluster;
  let harness: StageHarness;
  let archive: WalArchive;

  /** Archives the completed segments `from`..`to` (names on timeline 1) from pg_wal. */
  async function archiveSegments(from: bigint, to: bigint): Promise<void> {
    for (let segno = from; segno <= to; segno++) {
      const file = segmentFileName({ timeline: 1, segno });
      await archive.commitSegment({
        targetId: 'cluster',
        timeline: 1,
        file,
        path: join(cluster.dataDir, 'pg_wal', file),
        receivedAt: new Date(),
        route: 'stream',
      });
    }
  }

  const segno = (lsn: string): bigint => segmentOf(parseLsn(lsn), 1).segno;

  /** Dumps and uploads a backup (its verify job waits); the archive then holds WAL up to before its stop segment. */
  async function uploadedBackup(): Promise<{ backupId: string; physical: PhysicalBackup }> {
    const { backupId } = await harness.pipeline.request('cluster', 'manual');
    const { 'verify/verify': _verify, ...upToUpload } = harness.handlers;
    await harness.drain(upToUpload);
    const manifest = (await harness.manifests.find(backupId, 'cluster'))?.manifest;
    assert.equal(manifest?.status, 'uploaded', JSON.stringify(manifest?.failure));
    const physical = manifest.content.physical as PhysicalBackup;
    const newest = await archive.newestSegment('cluster');
    const next = (parseSegmentFileName(newest?.file ?? '')?.segno ?? 0n) + 1n;
    await archiveSegments(next, segno(physical.stopLsn) - 1n);
    return { backupId, physical };
  }

  before(async () => {
    cluster = await startScratchCluster({ settings: ['wal_keep_size = 1GB'] });
    harness = await StageHarness.create(CONFIG, {
      CLUSTER_URL: cluster.replicationUrl,
      TIDEMARK_PG_BIN: PG_BIN,
    });
    // The restored copy's server runs as postgres, which must pass through the harness's directories.
    await chmod(harness.dir, 0o755);
    await mkdir(harness.config.local.path, { mode: 0o711 });
    archive = new WalArchive(harness.store);
    await cluster.query('CREATE TABLE orders (id int PRIMARY KEY)');
    await cluster.query('INSERT INTO orders SELECT generate_series(1, 500)');
    // The archiver was streaming before the first backup: the archive holds a segment before its start.
    const [row] = await cluster.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await cluster.query('SELECT pg_switch_wal()');
    await archiveSegments(segno(row?.lsn ?? '0/0'), segno(row?.lsn ?? '0/0'));
  });

  after(async () => {
    await harness.dispose();
    await cluster.remove();
  });

  test('the stop segment not yet archived: wal-missing, retried, not corrupt; once it is: verified', async () => {
    const { backupId, physical } = await uploadedBackup();
    const failures: unknown[] = [];
    const once: JobHandlers = {
      'verify/verify': async (data, job) => {
        try {
          return await harness.verifies.run(parseJob(JOBS.verify, data), harness.env);
        } catch (error) {
          failures.push(error);
          job.state = 'delayed'; // as BullMQ's backoff would hold it
          return undefined;
        }
      },
    };
    await harness.drain(once);
    const [failure] = failures;
    assert.ok(failure instanceof SourceError && failure.code === 'wal-missing', String(failure));
    assert.equal(isLastAttempt(JOBS.verify, 1, failure), false, 'the verify job is retried');
    const waiting = (await harness.manifests.find(backupId, 'cluster'))?.manifest;
    assert.equal(waiting?.status, 'uploaded');
    assert.equal(waiting.verification ?? null, null);

    await archiveSegments(segno(physical.stopLsn), segno(physical.stopLsn));
    harness.queues.retry('verify', `${backupId}-verify`);
    await harness.drain();
    const manifest = (await harness.manifests.find(backupId, 'cluster'))?.manifest;
    assert.equal(manifest?.status, 'verified', JSON.stringify(manifest?.failure ?? manifest?.verification));
    const checks = manifest.verification?.restoreTest?.checks ?? [];
    assert.equal(checks.find((check) => check.name === 'recovery')?.ok, true, JSON.stringify(checks));
    assert.ok(checks.some((check) => check.name === 'database postgres connects' && check.ok));
    assert.deepEqual(
      checks.find((check) => check.name === 'rows postgres.public.orders'),
      { name: 'rows postgres.public.orders', ok: true, actual: 500 },
    );
  });

  test('a failed check of the restore test marks the backup corrupt', async () => {
    const { backupId, physical } = await uploadedBackup();
    await archiveSegments(segno(physical.stopLsn), segno(physical.stopLsn));
    // The manifest says another cluster: the restored pg_control disagrees.
    await harness.manifests.update('cluster', backupId, (current) => ({
      ...current,
      content: { ...current.content, physical: { ...physical, systemIdentifier: '1' } },
    }));
    await harness.drain();
    const manifest = (await harness.manifests.find(backupId, 'cluster'))?.manifest;
    assert.equal(manifest?.status, 'corrupt', JSON.stringify(manifest?.verification));
    const check = manifest.verification?.restoreTest?.checks.find((c) => c.name === 'system identifier');
    assert.equal(check?.ok, false);
    assert.equal(check.expected, '1');
  });
});
