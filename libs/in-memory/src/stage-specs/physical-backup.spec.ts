import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { artifactBlobName } from '@tidemark/manifest';
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
  sealed:
    schedule: "0 3 * * *"
    verify: { restoreTest: false }
    encryption: { recipients: ["\${OPS_RECIPIENT}"], identity: "\${AGE_IDENTITY}" }
targets:
  - { id: cluster, kind: postgres, method: physical, url: "\${CLUSTER_URL}", policy: quick }
  - { id: sealed-cluster, kind: postgres, method: physical, url: "\${CLUSTER_URL}", policy: sealed }
`;

describe('a physical postgres backup through the stages', () => {
  let cluster: ScratchCluster;
  let harness: StageHarness;

  let identity: string;

  before(async () => {
    identity = await generateX25519Identity();
    cluster = await startScratchCluster();
    harness = await StageHarness.create(CONFIG, {
      CLUSTER_URL: cluster.replicationUrl,
      TIDEMARK_PG_BIN: PG_BIN,
      OPS_RECIPIENT: await identityToRecipient(identity),
      AGE_IDENTITY: identity,
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

  test('encrypted: the tool-compressed tar goes through age after its own zstd; stock age and zstd read it', async () => {
    const { backupId } = await harness.pipeline.request('sealed-cluster', 'manual');
    await harness.drain();
    const manifest = (await harness.manifests.find(backupId, 'sealed-cluster'))?.manifest;
    assert.equal(manifest?.status, 'verified', JSON.stringify(manifest?.verification));
    assert.equal(manifest.artifact.encryption, 'age');
    assert.match(manifest.artifact.name, /\.tar\.zst\.age$/);
    assert.equal(manifest.verification?.structure?.ok, true);
    const blob = harness.store.bytes(artifactBlobName('sealed-cluster', backupId, manifest.artifact.name));
    assert.ok(blob);
    const key = join(harness.dir, 'age.key');
    await writeFile(key, identity, { mode: 0o600 });
    const tar = execFileSync('zstd', ['-dc'], {
      input: execFileSync('age', ['-d', '-i', key], { input: blob, maxBuffer: 1024 ** 3 }),
      maxBuffer: 1024 ** 3,
    });
    assert.match(
      execFileSync('tar', ['-t'], { input: tar, maxBuffer: 64 * 1024 ** 2 }).toString(),
      /PG_VERSION/,
    );
  });
});
