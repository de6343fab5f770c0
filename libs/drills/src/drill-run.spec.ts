import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EventPublisher } from '@tidemark/events';
import { StageHarness } from '@tidemark/in-memory';
import type { Manifest } from '@tidemark/manifest';
import { RestoreService } from '@tidemark/restore';
import { drillScratchName } from './drill-names';
import { restoreAndCheck } from './drill-run';
import { drillScratchFor } from './scratch-copy';

// A drill's restore, checks and cleanup through the real RestoreService, on an in-memory Blob Storage.
const CONFIG = (scratch: string): string => `
storage: { container: unit }
local: { path: __LOCAL__, minFreeBytes: 0 }
policies:
  quick:
    schedule: "0 3 * * *"
    verify: { restoreTest: false, scratch: { path: "${scratch}" } }
targets:
  - { id: files, kind: directory, url: "\${FILES_DIR}", policy: quick }
`;

describe('a drill run', () => {
  let work: string;
  let harness: StageHarness;
  let restore: RestoreService;
  let point: Manifest;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tidemark-drill-run-'));
    const files = join(work, 'files');
    await mkdir(files);
    await writeFile(join(files, 'collections.dat'), 'twelve bytes');
    harness = await StageHarness.create(CONFIG(join(work, 'scratch')), { FILES_DIR: files });
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain();
    const stored = await harness.manifests.find(backupId, 'files');
    assert.ok(stored && stored.manifest.status === 'verified', 'the backup is verified');
    point = stored.manifest;
    const { catalog, manifests, store, bus, config } = harness;
    restore = new RestoreService(catalog, manifests, store, new EventPublisher(bus, 'verifier'), {}, config);
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const copyOf = () =>
    drillScratchFor(harness.config, 'files', { FILES_DIR: join(work, 'files') }).copy(
      drillScratchName('files'),
    );

  test('restores, checks the files, runs the assertions, times each phase and removes the copy', async () => {
    const copy = copyOf();
    const outcome = await restoreAndCheck(restore, copy, point, [
      { file: 'collections.dat' },
      { file: 'nope' },
    ]);
    assert.equal(outcome.error, undefined);
    assert.deepEqual(
      outcome.checks.map((c) => [c.name, c.ok, c.expected, c.actual]),
      [['files', true, 1, 1]],
    );
    assert.deepEqual(
      outcome.assertions.map((a) => [a.name, a.ok, a.actual]),
      [
        ['file collections.dat', true, '12 bytes'],
        ['file nope', false, 'missing'],
      ],
    );
    for (const phase of Object.values(outcome.phasesMs)) assert.ok(Number.isInteger(phase) && phase >= 0);
    assert.ok(outcome.rtoMs >= outcome.phasesMs.restore);
    assert.deepEqual(outcome.cleanup, { ok: true });
    await assert.rejects(access(copy.to), 'the copy is gone');
  });

  test('a damaged blob fails the restore; the failure is recorded and nothing is left behind', async () => {
    const blobName = point.locations.remote?.blobName ?? '';
    harness.store.corrupt(blobName, (data) => {
      const copy = Buffer.from(data);
      copy[copy.length - 20] = (copy[copy.length - 20] ?? 0) ^ 0xff;
      return copy;
    });
    const copy = copyOf();
    const outcome = await restoreAndCheck(restore, copy, point, [{ file: 'collections.dat' }]);
    assert.ok(outcome.error, 'the restore failed');
    assert.match(outcome.error.message, /checksum|sha256|damaged|mismatch/i);
    assert.deepEqual(outcome.checks, []);
    assert.deepEqual(outcome.assertions, [], 'nothing is checked on a copy that did not restore');
    assert.deepEqual(outcome.cleanup, { ok: true });
    assert.deepEqual(
      (await readdir(join(work, 'scratch')).catch(() => [])).filter((n) => n.startsWith('tidemark_drill_')),
      [],
    );
  });
});
