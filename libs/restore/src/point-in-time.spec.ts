import assert from 'node:assert/strict';
import { access, chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WalReceiver } from '@tidemark/archiving';
import { EventPublisher } from '@tidemark/events';
import { StageHarness } from '@tidemark/in-memory';
import type { Manifest } from '@tidemark/manifest';
import {
  asPostgres,
  freePort,
  PG_BIN,
  startScratchCluster,
  waitFor,
  type ScratchCluster,
  type Tick,
  TickWriter,
} from '@tidemark/testing';
import { parseLsn } from '@tidemark/wal';
import { WalArchive } from '@tidemark/wal-archive';
import { PointInTimeRestoreService } from './point-in-time';
import { WalFetcher } from './wal-supply';
import { RestoreError } from './restore.service';

const CONFIG = `
storage: { container: unit }
local: { path: __LOCAL__, minFreeBytes: 0 }
policies:
  quick:
    schedule: "0 3 * * *"
    verify: { restoreTest: false }
targets:
  - { id: cluster, kind: postgres, method: physical, url: "\${CLUSTER_URL}", policy: quick }
`;

/**
 * A real cluster with a writer, its WAL streamed by the archiver's receiver into the archive, one base backup
 * through the stages, then restores to a time before the backup's end, one in the middle, the latest, and over a
 * damaged segment: each restored cluster is started and its rows compared with what was committed up to then.
 */
describe('restore to a point in time (real PostgreSQL, the WAL receiver, the stages)', () => {
  let cluster: ScratchCluster;
  let harness: StageHarness;
  let receiver: WalReceiver;
  let work: string;
  let service: PointInTimeRestoreService;
  let base: Manifest;
  let writer: TickWriter;
  const started: string[] = [];

  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );

  before(async () => {
    cluster = await startScratchCluster({ walSegmentMiB: 1, settings: ['track_commit_timestamp = on'] });
    work = await mkdtemp(join(tmpdir(), 'tidemark-pitr-'));
    // The restored servers run as postgres: it must reach their data directories.
    await chmod(work, 0o755);
    harness = await StageHarness.create(CONFIG, {
      CLUSTER_URL: cluster.replicationUrl,
      TIDEMARK_PG_BIN: PG_BIN,
    });
    const archive = new WalArchive(harness.store);
    receiver = new WalReceiver({
      targetId: 'cluster',
      url: cluster.replicationUrl,
      sink: archive,
      directory: join(work, 'spool'),
      shipPartialSeconds: 1,
      pollMs: 100,
      retryBaseMs: 100,
    });
    writer = new TickWriter(cluster);
    await writer.createTable();
    await receiver.start();
    await writer.write(4, 2);

    const { backupId } = await harness.pipeline.request('cluster', 'manual');
    await harness.drain();
    const found = await harness.manifests.find(backupId, 'cluster');
    assert.equal(found?.manifest.status, 'verified', JSON.stringify(found?.manifest.verification));
    base = found.manifest;

    // Several segment switches after the base backup, then rows that only the shipped partial holds.
    await writer.write(15, 5);
    await writer.write(3, 1000);
    const last = writer.ticks.at(-1)?.committedAt.getTime() ?? 0;
    await waitFor(
      async () =>
        (await archive.list('cluster')).some(
          (file) => file.kind === 'partial' && new Date(file.metadata?.receivedat ?? 0).getTime() >= last,
        ),
      { timeoutMs: 30_000, intervalMs: 200, what: 'the partial holding the last commit' },
    );
    service = new PointInTimeRestoreService(
      harness.catalog,
      harness.manifests,
      harness.store,
      new EventPublisher(harness.bus, 'restore-test'),
      { ...process.env, TIDEMARK_PG_BIN: PG_BIN },
    );
  });

  after(async () => {
    await receiver.stop({ ship: false });
    for (const dir of started)
      await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', dir, '-m', 'immediate', '-w', 'stop']).catch(
        () => undefined,
      );
    await harness.dispose();
    await cluster.remove();
    await rm(work, { recursive: true, force: true });
  });

  test('a time before the base backup ended is refused with the restorable window, nothing written', async () => {
    const to = join(work, 'too-early');
    const before = writer.ticks[0]?.committedAt as Date;
    await assert.rejects(
      service.restore({ targetId: 'cluster', target: { type: 'time', at: before }, to, clean: false }),
      (error: unknown) =>
        error instanceof RestoreError &&
        error.code === 'not-reachable' &&
        error.message.includes(before.toISOString()) &&
        error.message.includes(
          `restorable: ${new Date(base.content.physical?.stoppedAt ?? 0).toISOString()} to `,
        ),
    );
    assert.equal(await exists(to), false);
    assert.ok(harness.bus.events.some((event) => event.type === 'tidemark.restore.failed'));
  });

  test('a time in the middle: exactly the rows committed up to it', async () => {
    // Between two commits well after the base backup: half way, so neither lies on the target.
    const index = writer.ticks.length - 8;
    const k = writer.ticks[index] as Tick;
    const next = writer.ticks[index + 1] as Tick;
    const at = new Date((k.committedAt.getTime() + next.committedAt.getTime()) / 2);
    assert.ok(at.getTime() > k.committedAt.getTime() && at.getTime() < next.committedAt.getTime());
    const to = join(work, 'middle');
    const port = await freePort();
    const result = await service.restore({
      targetId: 'cluster',
      target: { type: 'time', at },
      to,
      clean: false,
      start: { port },
    });
    started.push(to);
    assert.equal(result.manifest.backupId, base.backupId);
    assert.ok(result.walFiles > 0);
    assert.equal(result.port, port);
    assert.deepEqual(
      await TickWriter.rowsOn(port),
      writer.ticks.filter((t) => t.committedAt.getTime() <= at.getTime()).map((t) => t.id),
    );
    assert.equal(result.reachedAt?.getTime(), k.committedAt.getTime());
  });

  test('the latest: every committed row, also those only in the shipped partial', async () => {
    const to = join(work, 'latest');
    const port = await freePort();
    const result = await service.restore({
      targetId: 'cluster',
      target: { type: 'latest' },
      to,
      clean: false,
      start: { port },
    });
    started.push(to);
    assert.equal(result.plan.files.at(-1)?.kind, 'partial');
    assert.deepEqual(
      await TickWriter.rowsOn(port),
      writer.ticks.map((t) => t.id),
    );
  });

  test('a WAL position: the rows committed before it', async () => {
    const k = writer.ticks[writer.ticks.length - 5] as Tick;
    const to = join(work, 'lsn');
    const port = await freePort();
    const result = await service.restore({
      targetId: 'cluster',
      target: { type: 'lsn', lsn: parseLsn(k.lsn) },
      to,
      clean: false,
      start: { port },
    });
    started.push(to);
    assert.deepEqual(
      await TickWriter.rowsOn(port),
      writer.ticks.slice(0, writer.ticks.length - 4).map((t) => t.id),
    );
    assert.equal(result.manifest.backupId, base.backupId);
  });

  test('a named base backup alone: its end, none of the rows written after it', async () => {
    const to = join(work, 'immediate');
    const port = await freePort();
    const result = await service.restore({
      targetId: 'cluster',
      backupId: base.backupId,
      target: { type: 'immediate' },
      to,
      clean: false,
      start: { port },
    });
    started.push(to);
    assert.equal(result.manifest.backupId, base.backupId);
    assert.deepEqual(await TickWriter.rowsOn(port), [1, 2, 3, 4]);
  });

  test('a target without base backups has no WAL archive to restore from', async () => {
    assert.equal(await service.hasWalArchive('cluster'), true);
    assert.equal(await service.hasWalArchive('elsewhere'), false);
    await assert.rejects(
      service.restore({
        targetId: 'elsewhere',
        target: { type: 'latest' },
        to: join(work, 'x'),
        clean: false,
      }),
      (error: unknown) => error instanceof RestoreError && error.code === 'not-found',
    );
  });

  test('a flipped byte in an archived segment fails the restore with its name; the directory never appears', async () => {
    const { plan } = await service.plan('cluster', { type: 'latest' });
    const damaged = plan.files.find((file) => file.kind === 'segment');
    assert.ok(damaged);
    const blobName = `cluster/wal/${damaged.timeline.toString(16).toUpperCase().padStart(8, '0')}/${damaged.file}.zst`;
    const original = harness.store.bytes(blobName);
    assert.ok(original, `${blobName} is in the store`);
    harness.store.corrupt(blobName, (data) => {
      const copy = Buffer.from(data);
      const at = Math.floor(copy.length / 2);
      copy[at] = (copy[at] ?? 0) ^ 0xff;
      return copy;
    });
    try {
      const to = join(work, 'damaged');
      await assert.rejects(
        service.restore({ targetId: 'cluster', target: { type: 'latest' }, to, clean: false }),
        (error: unknown) =>
          error instanceof Error &&
          (error as { code?: string }).code === 'restore-failed' &&
          error.message.includes(damaged.file),
      );
      assert.equal(await exists(to), false);
      assert.deepEqual(
        (await readdir(work)).filter((name) => name.includes('damaged')),
        [],
        'no staging directory is left beside it',
      );
    } finally {
      harness.store.corrupt(blobName, () => original);
    }
  });

  test('a base backup in the Archive tier: refused without rehydrate, rehydrated (to Cool) with it', async () => {
    const blobName = base.locations.remote?.blobName ?? '';
    await harness.store.setTier(blobName, 'Archive');
    const to = join(work, 'archived');
    await assert.rejects(
      service.restore({ targetId: 'cluster', target: { type: 'latest' }, to, clean: false }),
      (error: unknown) =>
        error instanceof RestoreError && error.code === 'archived' && error.message.includes(blobName),
    );
    const started = await service.restore({
      targetId: 'cluster',
      target: { type: 'latest' },
      to,
      clean: false,
      rehydrate: { priority: 'High', wait: false },
    });
    assert.ok('rehydrating' in started && !started.alreadyPending);
    assert.equal((await harness.store.properties(blobName))?.tier, 'Cool');
    assert.equal(await exists(to), false);
    const restored = await service.restore({
      targetId: 'cluster',
      target: { type: 'latest' },
      to,
      clean: false,
    });
    assert.equal(restored.manifest.backupId, base.backupId);
    assert.ok(await exists(join(to, 'recovery.signal')), 'set to recover on its first start');
  });

  test('a partial replaced by the archiver after the listing is read as it is now', async () => {
    // This test plays the archiver itself: the real one stops, so no other partial lands meanwhile.
    await receiver.stop({ ship: false });
    const archive = new WalArchive(harness.store);
    const listed = await archive.list('cluster');
    const partial = listed.find((file) => file.kind === 'partial');
    assert.ok(partial);
    const fetcher = new WalFetcher(archive, harness.store, listed);
    // What a running archiver does every shipPartialSeconds: the same name, new bytes and a new sha256.
    const newer = join(work, 'newer-partial');
    await writeFile(newer, Buffer.alloc(1 << 20, 7));
    await archive.shipPartial({
      targetId: 'cluster',
      timeline: partial.timeline,
      file: partial.file,
      path: newer,
      receivedAt: new Date(),
      route: 'stream',
    });
    const into = join(work, 'fetched-partial');
    await fetcher.fetch({ timeline: partial.timeline, file: partial.file, partial: true }, into);
    assert.deepEqual(await readFile(into), await readFile(newer));
    assert.equal(fetcher.fetched, 1);
  });

  test('a destination that is not empty is refused without --clean', async () => {
    const to = join(work, 'spool');
    await assert.rejects(
      service.restore({ targetId: 'cluster', target: { type: 'latest' }, to, clean: false }),
      (error: unknown) => (error as { code?: string }).code === 'target-not-empty',
    );
  });
});
