import { ageKeyPair, type AgeKeyPair } from '@tidemark/testing';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { isEvent } from '@tidemark/events';
import { artifactBlobName, type Manifest } from '@tidemark/manifest';
import { StageHarness } from '../stage-harness';

// Encryption through the stages: the dumper needs only public recipients, the verifier the identity; a verifier
// without the right one leaves the backup uploaded with backup.unverifiable, never corrupt.
const CONFIG = `
storage: { container: unit }
local: { path: __LOCAL__, minFreeBytes: 0 }
policies:
  sealed:
    schedule: "0 3 * * *"
    verify: { restoreTest: false }
    encryption:
      recipients: ["\${OPS_RECIPIENT}", "\${BREAKGLASS_RECIPIENT}"]
      identity: ["\${AGE_IDENTITY}", "\${OLD_AGE_IDENTITY}"]
targets:
  - { id: files, kind: directory, url: "\${FILES_DIR}", policy: sealed }
`;

describe('encrypted backups through the stages, in memory', () => {
  let files: string;
  let harness: StageHarness;
  let ops: AgeKeyPair;
  let breakGlass: AgeKeyPair;
  /** The second identity the config lists (rotation), unless a test sets it: a key nothing was encrypted to. */
  let retired: AgeKeyPair;

  const start = async (env: NodeJS.ProcessEnv): Promise<void> => {
    harness = await StageHarness.create(CONFIG, {
      FILES_DIR: files,
      OPS_RECIPIENT: ops.recipient,
      BREAKGLASS_RECIPIENT: breakGlass.recipient,
      OLD_AGE_IDENTITY: retired.identity,
      ...env,
    });
  };
  const backup = async (): Promise<Manifest> => {
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain();
    const found = await harness.manifests.find(backupId, 'files');
    assert.ok(found);
    return found.manifest;
  };
  const blob = (manifest: Manifest): Buffer => {
    const bytes = harness.store.bytes(artifactBlobName('files', manifest.backupId, manifest.artifact.name));
    assert.ok(bytes);
    return bytes;
  };
  beforeEach(async () => {
    [ops, breakGlass, retired] = [await ageKeyPair(), await ageKeyPair(), await ageKeyPair()];
    files = await mkdtemp(join(tmpdir(), 'tidemark-unit-sealed-'));
    await mkdir(join(files, 'sub'));
    await writeFile(join(files, 'a.txt'), 'alpha\n'.repeat(1000));
    await writeFile(join(files, 'sub', 'b.bin'), Buffer.alloc(200_000, 7));
  });
  afterEach(async () => {
    await harness.dispose();
    await rm(files, { recursive: true, force: true });
  });

  test('dump → zstd → age → sha256 → parts: verified, .age blob, public keys in the manifest, stock age reads it', async () => {
    await start({ AGE_IDENTITY: ops.identity });
    const manifest = await backup();
    assert.equal(manifest.status, 'verified');
    assert.equal(manifest.artifact.name, 'dump.tar.zst.age');
    assert.equal(manifest.artifact.encryption, 'age');
    assert.deepEqual(manifest.artifact.age?.recipients, [ops.recipient, breakGlass.recipient]);
    assert.match(manifest.restoreHint ?? '', /age -d -i <identity file> dump\.tar\.zst\.age \| zstd -dc \| /);
    const props = await harness.store.properties(
      artifactBlobName('files', manifest.backupId, manifest.artifact.name),
    );
    assert.ok(props && manifest.artifact.age);
    assert.equal(props.metadata['encryption'], 'age');
    assert.equal(props.metadata['encryption_recipients'], manifest.artifact.age.fingerprint);
    const bytes = blob(manifest);
    assert.equal(bytes.subarray(0, 22).toString(), 'age-encryption.org/v1\n');
    assert.ok(!manifest.restoreHint?.includes('AGE-SECRET-KEY'));
    assert.ok(!JSON.stringify(manifest).includes(ops.identity));
    // The break-glass key alone, with stock age and zstd: the tar lists the files.
    const key = join(harness.dir, 'breakglass.key');
    await writeFile(key, breakGlass.identity, { mode: 0o600 });
    const tar = execFileSync('zstd', ['-dc'], {
      input: execFileSync('age', ['-d', '-i', key], { input: bytes }),
    });
    const listing = execFileSync('tar', ['-t'], { input: tar }).toString();
    assert.match(listing, /a\.txt/);
    assert.match(listing, /sub\/b\.bin/);
  });

  test('a verifier without the identity: the checksum is checked, the backup stays uploaded, key-missing', async () => {
    await start({ AGE_IDENTITY: undefined });
    const manifest = await backup();
    assert.equal(manifest.status, 'uploaded');
    // Recorded for `tidemark show`: the checksum held, the content was not read, and why.
    assert.equal(manifest.verification?.checksum.ok, true);
    assert.equal(manifest.verification.structure, null);
    assert.equal(manifest.verification.restoreTest, null);
    assert.equal(manifest.verification.unreadable?.code, 'key-missing');
    assert.match(manifest.verification.unreadable.message, /environment variable AGE_IDENTITY is not set/);
    assert.equal(manifest.timestamps.verifiedAt, undefined);
    const types = harness.bus.typesOf(manifest.backupId);
    assert.ok(!types.includes('tidemark.backup.corrupt'));
    assert.ok(!types.includes('tidemark.backup.failed'));
    const event = harness.bus.events.find((e) => isEvent(e, 'tidemark.backup.unverifiable'));
    assert.ok(event && isEvent(event, 'tidemark.backup.unverifiable'));
    assert.equal(event.data.error.code, 'key-missing');
    assert.equal(event.data.checks.checksum, true);
    assert.equal(event.data.sizes.compressed, manifest.artifact.size);
    assert.match(event.data.error.message, /environment variable AGE_IDENTITY is not set/);
  });

  test('a verifier with the wrong identity: key-mismatch, uploaded, not corrupt', async () => {
    const stranger = await ageKeyPair();
    await start({ AGE_IDENTITY: stranger.identity });
    const manifest = await backup();
    assert.equal(manifest.status, 'uploaded');
    const event = harness.bus.events.find((e) => isEvent(e, 'tidemark.backup.unverifiable'));
    assert.ok(event && isEvent(event, 'tidemark.backup.unverifiable'));
    assert.equal(event.data.error.code, 'key-mismatch');
    assert.equal(manifest.verification?.unreadable?.code, 'key-mismatch');
    assert.ok(!event.data.error.message.includes(stranger.identity));
    assert.ok(!harness.bus.typesOf(manifest.backupId).includes('tidemark.backup.corrupt'));
  });

  test('without the identity a damaged blob is still found corrupt (the checksum comes first)', async () => {
    await start({ AGE_IDENTITY: undefined });
    const manifest = await backup();
    assert.equal(manifest.status, 'uploaded');
    const blobName = artifactBlobName('files', manifest.backupId, manifest.artifact.name);
    harness.store.corrupt(blobName, (data) => {
      data[data.length - 10] = (data[data.length - 10] ?? 0) ^ 0xff;
      return data;
    });
    await harness.pipeline.reverify('files', manifest.backupId, false);
    await harness.drain();
    const found = await harness.manifests.find(manifest.backupId, 'files');
    assert.equal(found?.manifest.status, 'corrupt');
    assert.equal(found.manifest.verification?.checksum.ok, false);
  });

  test('rotation: a backup to the old key and one to the new key both verify with both identities listed', async () => {
    const old = ops;
    await start({ AGE_IDENTITY: old.identity });
    const before = await backup();
    // The keys rotate: new backups go to the new key; the old identity stays configured second.
    const current = await ageKeyPair();
    harness.env['OPS_RECIPIENT'] = current.recipient;
    harness.env['AGE_IDENTITY'] = current.identity;
    harness.env['OLD_AGE_IDENTITY'] = old.identity;
    const after = await backup();
    assert.equal(after.status, 'verified');
    assert.ok(before.artifact.age && after.artifact.age);
    assert.deepEqual(after.artifact.age.recipients, [current.recipient, breakGlass.recipient]);
    assert.notEqual(before.artifact.age.fingerprint, after.artifact.age.fingerprint);
    await harness.pipeline.reverify('files', before.backupId, false);
    await harness.drain();
    const again = await harness.manifests.find(before.backupId, 'files');
    assert.equal(again?.manifest.status, 'verified');
    assert.ok(!harness.bus.events.some((e) => isEvent(e, 'tidemark.backup.unverifiable')));
  });
});
