import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { physicalBackupSchema } from '@tidemark/wal';
import { PG_BIN, startScratchCluster, type ScratchCluster } from '@tidemark/testing';
import { StageHarness } from '../stage-harness';

// A physical postgres target through the stages: the dumper writes the source's content.physical to the manifest.
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

describe('a physical postgres backup through the stages', () => {
  let cluster: ScratchCluster;
  let harness: StageHarness;

  before(async () => {
    cluster = await startScratchCluster();
    harness = await StageHarness.create(CONFIG, {
      CLUSTER_URL: cluster.replicationUrl,
      TIDEMARK_PG_BIN: PG_BIN,
    });
  });
  after(async () => {
    await harness.dispose();
    await cluster.remove();
  });

  test('ends verified with the base backup recorded as content.physical', async () => {
    const { backupId } = await harness.pipeline.request('cluster', 'manual');
    await harness.drain();
    const manifest = (await harness.manifests.find(backupId, 'cluster'))?.manifest;
    assert.equal(manifest?.status, 'verified', JSON.stringify(manifest?.verification));
    assert.equal(manifest.artifact.format, 'pg_basebackup-tar');
    const physical = physicalBackupSchema.parse(manifest.content.physical);
    assert.equal(physical.timeline, 1);
    assert.ok(Array.isArray(physical.backupManifest['Files']));
  });
});
