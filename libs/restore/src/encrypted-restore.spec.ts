import { ageKeyPair, type AgeKeyPair } from '@tidemark/testing';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { EventPublisher } from '@tidemark/events';
import { StageHarness } from '@tidemark/in-memory';
import type { Manifest } from '@tidemark/manifest';
import { RestoreService } from './restore.service';

// Restoring encrypted backups made by the real stages (in memory): with the policy's identities, key rotation
// included; refused with key-missing / key-mismatch before anything is written otherwise.
const CONFIG = `
storage: { container: unit }
local: { path: __LOCAL__, minFreeBytes: 0 }
policies:
  sealed:
    schedule: "0 3 * * *"
    verify: { restoreTest: false }
    encryption:
      recipients: ["\${OPS_RECIPIENT}"]
      identity: ["\${AGE_IDENTITY}", "\${OLD_AGE_IDENTITY}"]
targets:
  - { id: files, kind: directory, url: "\${FILES_DIR}", policy: sealed }
`;

describe('restoring encrypted backups', () => {
  let files: string;
  let harness: StageHarness;
  let ops: AgeKeyPair;
  let spare: AgeKeyPair;
  let restores = 0;

  const start = async (): Promise<void> => {
    harness = await StageHarness.create(CONFIG, {
      FILES_DIR: files,
      OPS_RECIPIENT: ops.recipient,
      AGE_IDENTITY: ops.identity,
      OLD_AGE_IDENTITY: spare.identity,
    });
  };
  const backup = async (): Promise<Manifest> => {
    const { backupId } = await harness.pipeline.request('files', 'manual');
    await harness.drain();
    const found = await harness.manifests.find(backupId, 'files');
    assert.equal(found?.manifest.status, 'verified');
    return found.manifest;
  };
  const restoreInto = async (manifest: Manifest): Promise<string> => {
    const to = join(harness.dir, `restored-${++restores}`);
    const service = new RestoreService(
      harness.catalog,
      harness.manifests,
      harness.store,
      new EventPublisher(harness.bus, 'test'),
      harness.env,
      harness.config,
    );
    await service.restore({ targetId: 'files', backupId: manifest.backupId, to, clean: false });
    return to;
  };

  beforeEach(async () => {
    [ops, spare] = [await ageKeyPair(), await ageKeyPair()];
    files = await mkdtemp(join(tmpdir(), 'tidemark-unit-sealed-'));
    await mkdir(join(files, 'sub'));
    await writeFile(join(files, 'a.txt'), 'alpha\n'.repeat(1000));
    await writeFile(join(files, 'sub', 'b.bin'), Buffer.alloc(200_000, 7));
    await start();
  });
  afterEach(async () => {
    await harness.dispose();
    await rm(files, { recursive: true, force: true });
  });

  test('decrypts with the configured identity and brings the files back identical', async () => {
    const to = await restoreInto(await backup());
    assert.equal(await readFile(join(to, 'a.txt'), 'utf8'), 'alpha\n'.repeat(1000));
    assert.deepEqual(await readFile(join(to, 'sub', 'b.bin')), Buffer.alloc(200_000, 7));
  });

  test('without the identity: key-missing; with the wrong one: key-mismatch; nothing is written', async () => {
    const manifest = await backup();
    delete harness.env['AGE_IDENTITY'];
    await assert.rejects(restoreInto(manifest), {
      code: 'key-missing',
      message: 'policies.sealed.encryption.identity[0]: environment variable AGE_IDENTITY is not set',
    });
    harness.env['AGE_IDENTITY'] = spare.identity;
    await assert.rejects(restoreInto(manifest), {
      code: 'key-mismatch',
      message: 'none of the 2 configured age identities matches a recipient of this artifact',
    });
    await assert.rejects(readFile(join(harness.dir, `restored-${restores}`, 'a.txt')), { code: 'ENOENT' });
  });

  test('rotation: a backup to the rotated-out key restores with the old identity listed second', async () => {
    const old = ops;
    const before = await backup();
    const current = await ageKeyPair();
    harness.env['OPS_RECIPIENT'] = current.recipient;
    harness.env['AGE_IDENTITY'] = current.identity;
    harness.env['OLD_AGE_IDENTITY'] = old.identity;
    await writeFile(join(files, 'a.txt'), 'beta\n');
    const after = await backup();
    assert.deepEqual(after.artifact.age?.recipients, [current.recipient]);
    assert.equal(await readFile(join(await restoreInto(before), 'a.txt'), 'utf8'), 'alpha\n'.repeat(1000));
    assert.equal(await readFile(join(await restoreInto(after), 'a.txt'), 'utf8'), 'beta\n');
    // Once the old identity is dropped, the old backup no longer opens; the new one still does.
    harness.env['OLD_AGE_IDENTITY'] = spare.identity;
    await assert.rejects(restoreInto(before), { code: 'key-mismatch' });
    assert.equal(await readFile(join(await restoreInto(after), 'a.txt'), 'utf8'), 'beta\n');
  });
});
